/**
 * One seeded PRNG for all of sublab: xoshiro128** seeded through splitmix32.
 * Same seed, same sequence, on every machine (pure 32-bit integer arithmetic).
 *
 * Example: `new Rng(42).next()` is always 0.66061572..., see test/rng.test.ts for the golden sequence.
 */
export class Rng {
    private s: Uint32Array;

    constructor(seed: number | string) {
        let x = typeof seed === "string" ? hashString(seed) : seed >>> 0;
        this.s = new Uint32Array(4);
        for (let i = 0; i < 4; i++) {
            // splitmix32
            x = (x + 0x9e3779b9) >>> 0;
            let z = x;
            z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
            z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
            this.s[i] = (z ^ (z >>> 16)) >>> 0;
        }
    }

    /** A uniform 32-bit unsigned integer. */
    nextU32(): number {
        const s = this.s;
        const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
        const t = (s[1] << 9) >>> 0;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 11);
        return result;
    }

    /** Uniform in [0, 1) with 32 bits of resolution. */
    next(): number {
        return this.nextU32() / 4294967296;
    }

    /** Uniform integer in [0, n). */
    int(n: number): number {
        return Math.floor(this.next() * n);
    }

    /** Standard normal (Box-Muller). */
    normal(): number {
        const u = 1 - this.next();
        const v = this.next();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** Fisher-Yates shuffle in place; returns the array. */
    shuffle<T>(a: T[]): T[] {
        for (let i = a.length - 1; i > 0; i--) {
            const j = this.int(i + 1);
            [a[i], a[j]] = [a[j], a[i]];
        }
        return a;
    }

    /** The generator's state, to store in a checkpoint. */
    getState(): number[] {
        return Array.from(this.s);
    }

    setState(state: number[]): void {
        if (state.length !== 4) throw new Error(`Rng state must have 4 words, got ${state.length}`);
        this.s.set(state);
    }
}

function rotl(x: number, k: number): number {
    return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a, to derive a seed from a name ("init", "data-order"...) so that streams are independent. */
export function hashString(s: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
        h ^= s.charCodeAt(i);
        h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
}

/** A generator for one purpose derived from a master seed: `subRng(42, "init")`. */
export function subRng(seed: number, purpose: string): Rng {
    return new Rng((hashString(purpose) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0);
}

/** One of `xs`, uniformly (one draw of `rng`). */
export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** One of the items, with probability proportional to its weight (one draw of `rng`). */
export function weighted<T>(rng: Rng, items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let u = rng.next() * total;
    for (const [item, w] of items) if ((u -= w) < 0) return item;
    return items[items.length - 1]![0];
}
