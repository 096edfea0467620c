/**
 * The statistics of an entanglement run (studies/entangle.ts): rank and partial rank correlations with their
 * two-sided permutation p, Fisher-z interval and equivalence p, and the verdicts of the run's family of tests.
 */
import type { Correlation, EntangleVerdict } from "../core/results.ts";
import type { Rng } from "../util/rng.ts";
import { mean } from "./stats.ts";
import { holm } from "./verdict.ts";

/** Average ranks (ties share their mean rank). */
export function ranks(xs: readonly number[]): number[] {
    const order = xs.map((_, k) => k).sort((a, b) => xs[a]! - xs[b]!);
    const r = new Array<number>(xs.length);
    for (let i = 0; i < order.length;) {
        let j = i;
        while (j + 1 < order.length && xs[order[j + 1]!] === xs[order[i]!]) j++;
        for (let k = i; k <= j; k++) r[order[k]!] = (i + j) / 2 + 1;
        i = j + 1;
    }
    return r;
}

export function pearson(x: readonly number[], y: readonly number[]): number {
    const [mx, my] = [mean(x), mean(y)];
    let [sxy, sxx, syy] = [0, 0, 0];
    x.forEach((v, k) => {
        sxy += (v - mx) * (y[k]! - my);
        sxx += (v - mx) ** 2;
        syy += (y[k]! - my) ** 2;
    });
    return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** x with its least-squares line on z removed. */
function residual(x: readonly number[], z: readonly number[]): number[] {
    const [mx, mz] = [mean(x), mean(z)];
    let [sxz, szz] = [0, 0];
    z.forEach((v, k) => {
        sxz += (v - mz) * (x[k]! - mx);
        szz += (v - mz) ** 2;
    });
    const b = szz > 0 ? sxz / szz : 0;
    return x.map((v, k) => v - mx - b * (z[k]! - mz));
}

/**
 * Spearman's rho of x and y, and their partial rank correlation given z: its two-sided permutation p, its 95%
 * interval and its equivalence p (two one-sided tests that it lies within +-margin), both from Fisher's z with
 * the partial's n - 4 degrees of freedom (a normal approximation).
 */
export function rankCorrelation(
    x: readonly number[],
    y: readonly number[],
    z: readonly number[],
    rng: Rng,
    iters = 2000,
    margin = ENTANGLE_STATS.rhoMargin,
): Correlation {
    const [rx, ry, rz] = [ranks(x), ranks(y), ranks(z)];
    const [ex, ey] = [residual(rx, rz), residual(ry, rz)];
    const partial = pearson(ex, ey);
    let hits = 0;
    const shuffled = ey.slice();
    for (let it = 0; it < iters; it++) {
        rng.shuffle(shuffled);
        if (Math.abs(pearson(ex, shuffled)) >= Math.abs(partial) - 1e-12) hits++;
    }
    const se = 1 / Math.sqrt(Math.max(1, x.length - 4));
    const zr = Math.atanh(Math.max(-0.999999, Math.min(0.999999, partial)));
    const zm = Math.atanh(margin);
    return {
        rho: pearson(rx, ry),
        partial,
        p: (hits + 1) / (iters + 1),
        ci95: [Math.tanh(zr - 1.959964 * se), Math.tanh(zr + 1.959964 * se)],
        pEquivalence: Math.max(1 - normalCdf((zr + zm) / se), normalCdf((zr - zm) / se)),
        margin,
        n: x.length,
    };
}

/** The standard normal distribution function (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
export function normalCdf(x: number): number {
    const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
    const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    const erf = 1 - poly * Math.exp(-(x * x) / 2);
    return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** The entanglement study's statistics: alpha for Holm over its tests, the equivalence margins (a ratio of lifts, a correlation). */
export const ENTANGLE_STATS = { alpha: 0.05, margin: 1.1, rhoMargin: 0.1 } as const;

/**
 * The verdicts of one entanglement run's tests (the set comparisons and the correlations): one family, Holm over
 * the two-sided p's for a difference and over the equivalence p's for "no difference larger than the margin".
 */
export function entangleVerdicts(
    members: readonly { estimate: number; p: number; pEquivalence: number; kind: "sets" | "correlation" }[],
    s: { alpha: number; margin: number; rhoMargin: number } = ENTANGLE_STATS,
): EntangleVerdict[] {
    const adj = holm(members.map((m) => m.p));
    const adjEq = holm(members.map((m) => m.pEquivalence));
    return members.map((m, i) => {
        const shown = adj[i]! < s.alpha;
        const equivalent = !shown && adjEq[i]! < s.alpha;
        const text =
            m.kind === "sets"
                ? shown
                    ? m.estimate > 0
                        ? "higher"
                        : "lower"
                    : equivalent
                      ? `no difference larger than x${s.margin}`
                      : "can't tell"
                : shown
                  ? m.estimate > 0
                      ? "positive"
                      : "negative"
                  : equivalent
                    ? `no correlation beyond +-${s.rhoMargin}`
                    : "can't tell";
        return { text, pAdjusted: adj[i]!, pEquivalenceAdjusted: adjEq[i]!, family: members.length, alpha: s.alpha };
    });
}
