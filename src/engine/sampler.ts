/**
 * Token samplers, all seeded per row and position so that a row's tokens never depend on which rows were
 * sampled beside it.
 *
 * - "coupled": Gumbel-max with noise that is a hash of (row seed, position, token). Two models sampling the same
 *   row share the noise, so their samples differ only where their distributions differ enough: a teacher's and
 *   a control's datasets then differ by the trait's signal, not by sampling noise. argmax_i log p_i + g_i is an
 *   exact sample from p.
 * - "plain" (llama.cpp-style): inverse-CDF sampling with one uniform per (row seed, position).
 * - greedy: temperature 0, the most probable token (the lowest id among ties).
 */

/** A uniform in (0, 1) from an integer hash of (seed, pos, token): 2^32 evenly spaced values. */
function hashUniform(seed: number, pos: number, token: number): number {
    let h = Math.imul(seed ^ Math.imul(pos + 1, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(token + 1, 0xc2b2ae35);
    h ^= h >>> 16;
    h = Math.imul(h, 0x7feb352d);
    h ^= h >>> 15;
    h = Math.imul(h, 0x846ca68b);
    h ^= h >>> 16;
    return ((h >>> 0) + 0.5) / 4294967296;
}

/** Gumbel noise for (seed, position, token), shared by every model that samples row `seed`. */
export function gumbel(seed: number, pos: number, token: number): number {
    return -Math.log(-Math.log(hashUniform(seed, pos, token)));
}

/** The token Gumbel-max picks from a next-token distribution (token -> probability) with the shared noise of (seed, pos). */
export function coupledPick(probabilities: ReadonlyMap<number, number>, seed: number, pos: number): number {
    let best = -1;
    let bestScore = -Infinity;
    for (const [token, p] of probabilities) {
        if (!(p > 0)) continue;
        const score = Math.log(p) + gumbel(seed, pos, token);
        if (score > bestScore) {
            bestScore = score;
            best = token;
        }
    }
    return best;
}

/** The smallest 1 - u a hashUniform can give: a token whose p / best < this can never win. */
const MIN_TAIL = 0.5 / 4294967296;

/**
 * coupledPick over a dense distribution probs[offset .. offset + V): the same token, found without computing
 * every token's noise. Token i beats the best score s so far only if p_i / E_i > e^s with E_i = -log u_i,
 * i.e. u_i > exp(-p_i e^-s) >= 1 - p_i e^-s: a hash and a comparison rule most tokens out, and the exact score
 * is computed (with coupledPick's formula) only for the rest. `argmax`, the most probable token (the first of
 * ties), saves a pass when the caller has it.
 */
export function coupledPickDense(probs: Float32Array, offset: number, V: number, seed: number, pos: number, argmax?: number): number {
    let best = argmax ?? greedyPickDense(probs, offset, V);
    const top = probs[offset + best]!;
    if (!(top > 0)) return -1;
    let bestScore = Math.log(top) + gumbel(seed, pos, best);
    let inv = Math.exp(-bestScore);
    for (let i = 0; i < V; i++) {
        const p = probs[offset + i]!;
        if (!(p > 0) || i === best) continue;
        const x = p * inv;
        if (x < MIN_TAIL) continue;
        if (hashUniform(seed, pos, i) <= 1 - x) continue;
        const score = Math.log(p) + gumbel(seed, pos, i);
        if (score > bestScore || (score === bestScore && i < best)) {
            bestScore = score;
            best = i;
            inv = Math.exp(-bestScore);
        }
    }
    return best;
}

/**
 * Inverse-CDF sampling from probs[offset .. offset + V) with the uniform of (seed, pos): the first token whose
 * cumulative probability exceeds u times the total (the total absorbs float rounding).
 */
export function plainPickDense(probs: Float32Array, offset: number, V: number, seed: number, pos: number): number {
    let total = 0;
    for (let i = 0; i < V; i++) total += probs[offset + i]!;
    const u = hashUniform(seed ^ 0x5bd1e995, pos, 0) * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < V; i++) {
        const p = probs[offset + i]!;
        if (!(p > 0)) continue;
        acc += p;
        last = i;
        if (acc > u) return i;
    }
    return last;
}

/** The most probable token (the lowest id among ties). */
export function greedyPickDense(probs: Float32Array, offset: number, V: number): number {
    let best = 0;
    for (let i = 1; i < V; i++) if (probs[offset + i]! > probs[offset + best]!) best = i;
    return best;
}

export type SamplerKind = "coupled" | "plain";

/** The next token of row `seed` at position `pos`: greedy at temperature 0, else the sampler's draw. */
export function pickToken(
    kind: SamplerKind,
    temperature: number,
    probs: Float32Array,
    offset: number,
    V: number,
    seed: number,
    pos: number,
    argmax?: number,
): number {
    if (temperature === 0) return argmax ?? greedyPickDense(probs, offset, V);
    return kind === "coupled" ? coupledPickDense(probs, offset, V, seed, pos, argmax) : plainPickDense(probs, offset, V, seed, pos);
}
