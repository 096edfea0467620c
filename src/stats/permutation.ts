/**
 * Permutation tests: a sign-flip test over paired differences and a two-sample test over two groups, exact when
 * their designs are small enough to enumerate, Monte Carlo otherwise.
 */
import type { Rng } from "../util/rng.ts";
import { binomialCapped } from "./verdict.ts";

/**
 * One-sided paired sign-flip permutation test of H1: mean(diffs) > 0. Under H0 each difference is as likely
 * to have either sign, so the observed sum is compared with the sums of every sign pattern (exact, when
 * 2^n <= iters) or of `iters` random ones (then p = (count + 1) / (iters + 1), which is never 0 and is a
 * valid p-value). Patterns whose sum ties the observed one count as extreme, so the test errs conservative.
 */
export function signFlipTest(diffs: number[], rng: Rng, iters = 10000): { p: number; permutations: number } {
    const n = diffs.length;
    if (n === 0) return { p: 1, permutations: 1 };
    let observed = 0;
    let scale = 0;
    for (const d of diffs) {
        observed += d;
        scale += Math.abs(d);
    }
    // Sums that equal the observed one up to rounding are ties, not smaller.
    const threshold = observed - 1e-9 * Math.max(scale, 1e-300);
    if (n < 31 && 2 ** n <= iters) {
        const total = 2 ** n;
        let count = 0;
        for (let mask = 0; mask < total; mask++) {
            let s = 0;
            for (let i = 0; i < n; i++) s += mask & (1 << i) ? -diffs[i] : diffs[i];
            if (s >= threshold) count++;
        }
        return { p: count / total, permutations: total };
    }
    let count = 0;
    for (let it = 0; it < iters; it++) {
        let s = 0;
        let bits = 0;
        for (let i = 0; i < n; i++) {
            if (i % 32 === 0) bits = rng.nextU32();
            s += bits & (1 << (i % 32)) ? -diffs[i] : diffs[i];
        }
        if (s >= threshold) count++;
    }
    return { p: (count + 1) / (iters + 1), permutations: iters };
}

/**
 * One-sided two-sample permutation test of H1: mean(a) > mean(b). Under H0 the labels are exchangeable, so the
 * observed difference of means is compared with that of every relabeling that puts |a| of the pooled values in
 * a (exact, when C(|a|+|b|, |a|) <= iters) or of `iters` random relabelings (then p = (count + 1) / (iters + 1),
 * never 0 and a valid p-value). With the pooled total fixed, the difference of means rises with the sum of the
 * a-group, so that sum is what is compared. Relabelings that tie the observed one count as extreme.
 */
export function permutationTestTwoSample(a: number[], b: number[], rng: Rng, iters = 20000): { p: number; permutations: number; exact: boolean } {
    const na = a.length;
    const nb = b.length;
    if (na === 0 || nb === 0) return { p: 1, permutations: 1, exact: true };
    const pooled = [...a, ...b];
    const n = pooled.length;
    let observed = 0;
    for (const v of a) observed += v;
    let scale = 0;
    for (const v of pooled) scale += Math.abs(v);
    // Sums that equal the observed one up to rounding are ties, not smaller.
    const threshold = observed - 1e-9 * Math.max(scale, 1e-300);
    const total = binomialCapped(n, na, iters);
    if (total <= iters) {
        // Walk every na-subset of 0..n-1 in lexicographic order.
        const idx = Array.from({ length: na }, (_, i) => i);
        let count = 0;
        for (;;) {
            let s = 0;
            for (const i of idx) s += pooled[i];
            if (s >= threshold) count++;
            let j = na - 1;
            while (j >= 0 && idx[j] === n - na + j) j--;
            if (j < 0) break;
            idx[j]++;
            for (let k = j + 1; k < na; k++) idx[k] = idx[k - 1] + 1;
        }
        return { p: count / total, permutations: total, exact: true };
    }
    const work = pooled.slice();
    let count = 0;
    for (let it = 0; it < iters; it++) {
        // A partial Fisher-Yates shuffle: the first na slots are a uniform random na-subset.
        let s = 0;
        for (let i = 0; i < na; i++) {
            const j = i + rng.int(n - i);
            const t = work[i];
            work[i] = work[j];
            work[j] = t;
            s += work[i];
        }
        if (s >= threshold) count++;
    }
    return { p: (count + 1) / (iters + 1), permutations: iters, exact: false };
}
