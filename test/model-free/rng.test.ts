/**
 * The seeded PRNG's golden sequence: xoshiro128** seeded through splitmix32 gives the same numbers on every
 * machine. Checked against constants (so that a change to the generator, which would change every dataset and
 * student, cannot pass unnoticed) and against a reference written independently here with BigInt arithmetic
 * from the published algorithms.
 */
import { describe, expect, it } from "vitest";
import { hashString, Rng, subRng } from "../../src/util/rng.ts";

const M32 = (1n << 32n) - 1n;
const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M32;

/** splitmix32 (state += 0x9e3779b9; murmur3-style finaliser) then xoshiro128** (Blackman and Vigna). */
function* reference(seed: number): Generator<number> {
    let x = BigInt(seed >>> 0);
    const s: bigint[] = [];
    for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9n) & M32;
        let z = x;
        z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M32;
        z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M32;
        s.push(z ^ (z >> 16n));
    }
    for (;;) {
        const result = (rotl((s[1]! * 5n) & M32, 7n) * 9n) & M32;
        const t = (s[1]! << 9n) & M32;
        s[2]! ^= s[0]!;
        s[3]! ^= s[1]!;
        s[1]! ^= s[2]!;
        s[0]! ^= s[3]!;
        s[2]! ^= t;
        s[3] = rotl(s[3]!, 11n);
        yield Number(result);
    }
}

describe("Rng", () => {
    it("gives the golden sequence", () => {
        const r = new Rng(42);
        expect(Array.from({ length: 6 }, () => r.nextU32())).toEqual([2837322924, 544945897, 479756282, 3500138142, 339756180, 113173290]);
        expect(new Rng(42).next()).toBe(0.6606157226487994);
        expect(hashString("")).toBe(2166136261); // FNV-1a's offset basis
        expect(hashString("init")).toBe(380752755);
        const t = subRng(42, "teacher-rows");
        expect([t.nextU32(), t.nextU32(), t.nextU32()]).toEqual([1896679463, 3122846003, 3115903500]);
        expect(new Rng(7).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])).toEqual([0, 5, 6, 8, 9, 7, 1, 3, 4, 2]);
    });

    it("equals an independent BigInt implementation of splitmix32 + xoshiro128**", () => {
        for (const seed of [0, 1, 42, 0x7fffffff, 0xffffffff, 123456789]) {
            const r = new Rng(seed);
            const ref = reference(seed);
            for (let i = 0; i < 1000; i++) expect(r.nextU32(), `seed ${seed} draw ${i}`).toBe(ref.next().value);
        }
    });

    it("resumes from a stored state and seeds from strings", () => {
        const a = new Rng(9);
        a.nextU32();
        const b = new Rng(0);
        b.setState(a.getState());
        expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(Array.from({ length: 5 }, () => a.nextU32()));
        expect(new Rng("init").nextU32()).toBe(new Rng(hashString("init")).nextU32());
    });
});
