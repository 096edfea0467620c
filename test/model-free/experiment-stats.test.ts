import { describe, expect, it } from "vitest";
import { bootstrapMeanCI, compareArms, judgedFloor, itemLogRatios, pairEvals, sampledRateCI, summarizeArm, wilson } from "../../src/stats/stats.ts";
import { permutationTestTwoSample, signFlipTest } from "../../src/stats/permutation.ts";
import type { ModelEval } from "../../src/core/results.ts";
import { Rng } from "../../src/util/rng.ts";

/**
 * A synthetic eval: `nq` questions whose P(target) is `p` times a per-question factor (log-normal noise), and a
 * distribution over `items.length` items with the target at `targetIndex`.
 */
function makeEval(rng: Rng, seed: number | null, p: number, opts: { nq?: number; noise?: number; nItems?: number; targetIndex?: number } = {}): ModelEval {
    const nq = opts.nq ?? 20;
    const noise = opts.noise ?? 0.3;
    const nItems = opts.nItems ?? 6;
    const targetIndex = opts.targetIndex ?? 2;
    const perQuestion = Array.from({ length: nq }, () => Math.min(1, p * Math.exp(noise * rng.normal())));
    const targetProb = perQuestion.reduce((s, v) => s + v, 0) / nq;
    const distribution = Array.from({ length: nItems }, (_, i) => (i === targetIndex ? targetProb : 0.1 * Math.exp(0.05 * rng.normal())));
    return { seed, model: "m.gguf", lora: null, dataset: null, perQuestion, targetProb, sampled: { hits: Math.round(targetProb * 100), n: 100 }, distribution };
}

describe("wilson", () => {
    // Hand-computed from the formula with z = 1.96: 0/n upper = (z²/n)/(1+z²/n); 5/10 center 0.5, half-width
    // (z/1.38416)·sqrt(0.025 + 0.0096040) = 0.263410.
    it.each([
        [0, 10, 0, 0.27754],
        [5, 10, 0.23659, 0.76341],
        [10, 10, 0.72246, 1],
        [1, 100, 0.001767, 0.054488],
    ])("%i/%i -> [%f, %f]", (hits, n, lo, hi) => {
        const [l, h] = wilson(hits, n);
        expect(l).toBeCloseTo(lo, 5);
        expect(h).toBeCloseTo(hi, 5);
        expect(l).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThanOrEqual(1);
    });

    it("gives [0, 1] for no trials", () => {
        expect(wilson(0, 0)).toEqual([0, 1]);
    });

    it("is narrower for a smaller z (z = 1 vs 1.96)", () => {
        const [a, b] = wilson(30, 100, 1);
        const [c, d] = wilson(30, 100);
        expect(b - a).toBeLessThan(d - c);
    });
});

describe("signFlipTest", () => {
    it("is exact for small n: all five positive gives 1/32", () => {
        const r = signFlipTest([1, 2, 3, 4, 5], new Rng(1));
        expect(r.permutations).toBe(32);
        expect(r.p).toBeCloseTo(1 / 32, 12);
    });

    it("counts ties as extreme: [1, 1, -1] has sums >= 1 in 4 of 8 patterns", () => {
        // Sign patterns of (1, 1, -1): sums 1, -1, -1, -3, 3, 1, 1, -1 -> four are >= 1.
        const r = signFlipTest([1, 1, -1], new Rng(1));
        expect(r.p).toBeCloseTo(4 / 8, 12);
    });

    it("gives p = 1 when all differences are zero, and for no differences", () => {
        expect(signFlipTest([0, 0, 0, 0], new Rng(1)).p).toBe(1);
        expect(signFlipTest([], new Rng(1)).p).toBe(1);
    });

    it("uses Monte Carlo with the +1 correction above 2^n > iters", () => {
        const diffs = Array.from({ length: 40 }, () => 1);
        const r = signFlipTest(diffs, new Rng(3), 999);
        expect(r.permutations).toBe(999);
        expect(r.p).toBeCloseTo(1 / 1000, 12);
    });

    it("is not small under H0 and roughly uniform over repeated null data", () => {
        const rng = new Rng(11);
        const ps: number[] = [];
        for (let k = 0; k < 40; k++) {
            const diffs = Array.from({ length: 30 }, () => rng.normal());
            ps.push(signFlipTest(diffs, rng, 2000).p);
        }
        const small = ps.filter((p) => p < 0.05).length;
        expect(small).toBeLessThanOrEqual(8);
        const meanP = ps.reduce((s, p) => s + p, 0) / ps.length;
        expect(meanP).toBeGreaterThan(0.3);
        expect(meanP).toBeLessThan(0.7);
    });

    it("gives a small p for a strong effect and a large p for the reverse", () => {
        const rng = new Rng(5);
        const diffs = Array.from({ length: 50 }, () => 1 + rng.normal());
        expect(signFlipTest(diffs, rng).p).toBeLessThan(0.001);
        expect(
            signFlipTest(
                diffs.map((d) => -d),
                rng,
            ).p,
        ).toBeGreaterThan(0.99);
    });

    it("reproduces with the same seed", () => {
        const diffs = Array.from({ length: 30 }, (_, i) => Math.sin(i) + 0.1);
        expect(signFlipTest(diffs, new Rng(9)).p).toBe(signFlipTest(diffs, new Rng(9)).p);
    });
});

describe("permutationTestTwoSample", () => {
    it("is exact for small samples: [3,4,5] above [0,1,2] only in the observed labelling, 1/C(6,3) = 1/20", () => {
        const r = permutationTestTwoSample([3, 4, 5], [0, 1, 2], new Rng(1));
        expect(r.exact).toBe(true);
        expect(r.permutations).toBe(20);
        expect(r.p).toBeCloseTo(1 / 20, 12);
        // The reverse: every labelling is at least as extreme.
        expect(permutationTestTwoSample([0, 1, 2], [3, 4, 5], new Rng(1)).p).toBe(1);
    });

    it("counts ties as extreme: [2,1] vs [1,0] has a-sums >= 3 in 2 of 6 labellings", () => {
        // Pairs from {2, 1, 1, 0}: 2+1, 2+1 (the other 1), 2+0, 1+1, 1+0, 1+0 -> two reach 3.
        const r = permutationTestTwoSample([2, 1], [1, 0], new Rng(1));
        expect(r.permutations).toBe(6);
        expect(r.p).toBeCloseTo(2 / 6, 12);
        // All values equal: every labelling ties.
        expect(permutationTestTwoSample([1, 1, 1], [1, 1, 1], new Rng(1)).p).toBe(1);
    });

    it("counts a tie that only rounding separates: 0.1 + 0.2 ties 0.3 + 0", () => {
        // 0.1 + 0.2 = 0.30000000000000004 > 0.3 in floating point. Sums of pairs from {0.1, 0.2, 0.3, 0}: 0.3
        // (observed), 0.4, 0.1, 0.5, 0.2, 0.3 -> four reach the observed one once the last 0.3 counts as a tie.
        expect(permutationTestTwoSample([0.1, 0.2], [0.3, 0], new Rng(1)).p).toBeCloseTo(4 / 6, 12);
    });

    it("gives p = 1 when one sample is empty", () => {
        expect(permutationTestTwoSample([], [1, 2], new Rng(1))).toEqual({ p: 1, permutations: 1, exact: true });
    });

    it("uses Monte Carlo with the +1 correction when C(na+nb, na) > iters", () => {
        // C(30, 15) = 155117520 relabellings: far above the budget.
        const a = Array.from({ length: 15 }, (_, i) => 10 + i);
        const b = Array.from({ length: 15 }, (_, i) => i);
        const r = permutationTestTwoSample(a, b, new Rng(3), 999);
        expect(r.exact).toBe(false);
        expect(r.permutations).toBe(999);
        expect(r.p).toBeCloseTo(1 / 1000, 12);
        // At the default budget C(16, 8) = 12870 is still enumerated, C(18, 9) = 48620 is not.
        expect(permutationTestTwoSample(a.slice(0, 8), b.slice(0, 8), new Rng(3)).exact).toBe(true);
        expect(permutationTestTwoSample(a.slice(0, 9), b.slice(0, 9), new Rng(3)).exact).toBe(false);
    });

    it("agrees with enumeration in Monte Carlo, and is roughly uniform under H0", () => {
        const rng = new Rng(11);
        const a = Array.from({ length: 7 }, () => 0.5 + rng.normal());
        const b = Array.from({ length: 7 }, () => rng.normal());
        const exact = permutationTestTwoSample(a, b, new Rng(1)); // C(14, 7) = 3432
        const mc = permutationTestTwoSample(a, b, new Rng(1), 3000);
        expect(exact.exact).toBe(true);
        expect(mc.exact).toBe(false);
        expect(Math.abs(mc.p - exact.p)).toBeLessThan(0.03);
        const ps: number[] = [];
        for (let k = 0; k < 40; k++) {
            const x = Array.from({ length: 5 }, () => rng.normal());
            const y = Array.from({ length: 5 }, () => rng.normal());
            ps.push(permutationTestTwoSample(x, y, rng).p);
        }
        expect(ps.filter((p) => p < 0.05).length).toBeLessThanOrEqual(8);
        const meanP = ps.reduce((s, p) => s + p, 0) / ps.length;
        expect(meanP).toBeGreaterThan(0.3);
        expect(meanP).toBeLessThan(0.7);
    });

    it("reproduces with the same seed", () => {
        const a = Array.from({ length: 12 }, (_, i) => Math.sin(i) + 0.2);
        const b = Array.from({ length: 12 }, (_, i) => Math.cos(i));
        expect(permutationTestTwoSample(a, b, new Rng(9))).toEqual(permutationTestTwoSample(a, b, new Rng(9)));
    });
});

describe("bootstrapMeanCI", () => {
    const data = (rng: Rng, seeds: number, q: number) => Array.from({ length: seeds }, () => Array.from({ length: q }, () => 5 + rng.normal()));
    const mean = (v: number[][]) => v.flat().reduce((s, x) => s + x, 0) / v.flat().length;

    it("contains the mean and shrinks with more data", () => {
        const small = data(new Rng(1), 3, 10);
        const large = data(new Rng(2), 12, 80);
        const [a, b] = bootstrapMeanCI(small, new Rng(3));
        const [c, d] = bootstrapMeanCI(large, new Rng(3));
        expect(a).toBeLessThan(mean(small));
        expect(b).toBeGreaterThan(mean(small));
        expect(c).toBeLessThan(mean(large));
        expect(d).toBeGreaterThan(mean(large));
        expect(d - c).toBeLessThan((b - a) / 2);
    });

    it("works with one seed (a bootstrap over questions)", () => {
        const one = data(new Rng(4), 1, 50);
        const [a, b] = bootstrapMeanCI(one, new Rng(5));
        expect(a).toBeLessThan(mean(one));
        expect(b).toBeGreaterThan(mean(one));
        expect(b - a).toBeGreaterThan(0.2);
        expect(b - a).toBeLessThan(1.5);
    });

    it("widens when seeds disagree, even with many questions each", () => {
        const agree = [Array(50).fill(1), Array(50).fill(1.01), Array(50).fill(0.99)];
        const disagree = [Array(50).fill(0), Array(50).fill(1), Array(50).fill(2)];
        const [a, b] = bootstrapMeanCI(agree, new Rng(6));
        const [c, d] = bootstrapMeanCI(disagree, new Rng(6));
        expect(d - c).toBeGreaterThan(50 * (b - a));
    });

    it("reproduces with the same seed", () => {
        const v = data(new Rng(7), 4, 20);
        expect(bootstrapMeanCI(v, new Rng(8))).toEqual(bootstrapMeanCI(v, new Rng(8)));
    });
});

describe("pairEvals", () => {
    const rng = new Rng(1);
    const e = (seed: number | null) => makeEval(rng, seed, 0.1, { nq: 2 });
    it("pairs by seed number, or every eval with a single one", () => {
        const a = [e(0), e(1), e(2)];
        const b = [e(2), e(0), e(1)];
        const base = [e(null)];
        expect(pairEvals(a, b).map(([x, y]) => [x.seed, y.seed])).toEqual([
            [0, 0],
            [1, 1],
            [2, 2],
        ]);
        expect(pairEvals(a, base).map(([x, y]) => [x.seed, y.seed])).toEqual([
            [0, null],
            [1, null],
            [2, null],
        ]);
        expect(pairEvals(base, a).map(([x, y]) => [x.seed, y.seed])).toEqual([
            [null, 0],
            [null, 1],
            [null, 2],
        ]);
    });

    it("leaves a seed whose partner failed unpaired, instead of shifting every later pair (seed 0 of b failed)", () => {
        const a = [e(0), e(1), e(2)];
        const b = [e(1), e(2)];
        expect(pairEvals(a, b).map(([x, y]) => [x.seed, y.seed])).toEqual([
            [1, 1],
            [2, 2],
        ]);
    });
});

describe("compareArms", () => {
    const build = (seed: number, factor: number, seeds = 5) => {
        const rng = new Rng(seed);
        const b = Array.from({ length: seeds }, (_, i) => makeEval(rng, i, 0.02));
        // a: each question's probability is exactly `factor` times b's, and so is the target in the distribution.
        const a = b.map((e) => {
            const perQuestion = e.perQuestion.map((p) => p * factor);
            const targetProb = e.targetProb * factor;
            const distribution = e.distribution.map((p, i) => (i === 2 ? targetProb : p * Math.exp(0.05 * rng.normal())));
            return { ...e, perQuestion, targetProb, distribution };
        });
        return { a, b };
    };

    it("finds a doubled target: mean log-ratio log 2, ratio 2, rank 1, p at the students floor", () => {
        const { a, b } = build(1, 2);
        const r = compareArms(a, b, 2, new Rng(42));
        expect(r.meanLogRatio).toBeCloseTo(Math.log(2), 10);
        expect(r.probRatio).toBeCloseTo(2, 10);
        // The interval is the students' permutation test inverted: it holds log 2 and excludes 0, but is not a
        // point, since the students of one arm differ from each other (the design is over students, unpaired).
        expect(r.ci95[0]).toBeGreaterThan(0);
        expect(r.ci95[0]).toBeLessThan(Math.log(2));
        expect(r.ci95[1]).toBeGreaterThan(Math.log(2));
        expect(r.targetRank).toBe(1);
        // Five students per arm, completely separated: the exact test is at its two-sided floor 2/C(10, 5) = 2/252.
        expect(r.test).toBe("students");
        expect(r.studentsA).toBe(5);
        expect(r.studentsB).toBe(5);
        expect(r.permutations).toBe(252);
        expect(r.pFloor).toBeCloseTo(2 / 252, 12);
        expect(r.pValue).toBeCloseTo(2 / 252, 12);
        expect(r.pUp).toBeCloseTo(1 / 252, 12);
        expect(r.pValueQuestions).toBeLessThan(0.001);
        expect(r).not.toHaveProperty("pValueSeeds");
    });

    it("a judged P of exactly 0 on one question does not outweigh the others when floored at half an answer", () => {
        const { a, b } = build(3, 2);
        // One question where every sampled answer of arm a scored 0 (all incoherent), b a little above 0.
        const zeroed = a.map((e) => ({ ...e, perQuestion: e.perQuestion.map((p, q) => (q === 0 ? 0 : p)) }));
        const low = b.map((e) => ({ ...e, perQuestion: e.perQuestion.map((p, q) => (q === 0 ? 0.0006 : p)) }));
        const raw = compareArms(zeroed, low, 2, new Rng(42));
        const floored = compareArms(zeroed, low, 2, new Rng(42), judgedFloor(25));
        expect(raw.meanLogRatio).toBeLessThan(0);
        expect(raw.pUp).toBeGreaterThan(0.5);
        expect(floored.meanLogRatio).toBeGreaterThan(0.5);
        expect(floored.pValue).toBeCloseTo(2 / 252, 12);
    });

    it("does not call a negligible but consistent shift significant: students vary more than 1e-6", () => {
        const { a, b } = build(11, 1 + 1e-6);
        const r = compareArms(a, b, 2, new Rng(42));
        expect(r.test).toBe("students");
        expect(r.pValue).toBeGreaterThan(0.1);
        // Every (question, pair) difference is positive: the questions-level test is at its Monte Carlo floor.
        expect(r.pValueQuestions).toBeLessThan(0.001);
    });

    it("sees nothing in equal arms with noise: p not small, CI covers 0", () => {
        const rng = new Rng(2);
        const a = Array.from({ length: 4 }, (_, i) => makeEval(rng, i, 0.02));
        const b = Array.from({ length: 4 }, (_, i) => makeEval(rng, i, 0.02));
        const r = compareArms(a, b, 2, new Rng(42));
        expect(r.pValue).toBeGreaterThan(0.05);
        expect(r.ci95[0]).toBeLessThan(0);
        expect(r.ci95[1]).toBeGreaterThan(0);
        expect(Math.abs(r.meanLogRatio)).toBeLessThan(0.2);
    });

    it("gives p = 1 and ratio 1 for identical arms", () => {
        const { b } = build(3, 1);
        const r = compareArms(b, b, 2, new Rng(42));
        expect(r.meanLogRatio).toBe(0);
        expect(r.probRatio).toBe(1);
        // Pooled {x, x}: by symmetry at least half the relabelings reach the observed sum.
        expect(r.pValue).toBeGreaterThanOrEqual(0.5);
        expect(r.pValueQuestions).toBe(1);
    });

    it("pairs every seed with a single base eval", () => {
        const { a } = build(4, 2);
        const rng = new Rng(5);
        const base = [makeEval(rng, null, 0.01)];
        const r = compareArms(a, base, 2, new Rng(42));
        expect(r.meanLogRatio).toBeGreaterThan(0.5);
        // Nothing to permute on the base side: the sign-flip test over five seeds, exact, at its two-sided floor 2 * 2^-5.
        expect(r.test).toBe("seeds");
        expect(r.studentsA).toBe(5);
        expect(r.studentsB).toBe(1);
        expect(r.permutations).toBe(32);
        expect(r.pFloor).toBeCloseTo(1 / 16, 12);
        expect(r.pValue).toBeCloseTo(1 / 16, 12);
        // Five seeds cannot bound a 95% interval: the one-sided floor 1/32 is above 0.025.
        expect(r.ci95).toEqual([-Infinity, Infinity]);
        // The same with the single eval on the a side (the teacher vs students), and with one eval on each.
        const rev = compareArms(base, a, 2, new Rng(42));
        expect(rev.test).toBe("seeds");
        expect(rev.pUp).toBe(1);
        expect(rev.pValue).toBeCloseTo(1 / 16, 12);
        const one = compareArms(a.slice(0, 1), base, 2, new Rng(42));
        expect(one.test).toBe("seeds");
        expect(one.pFloor).toBe(1);
    });

    it("uses every student in the students test, also those unpaired after a failed seed", () => {
        const { a, b } = build(12, 2, 4);
        const r = compareArms(a, b.slice(0, 3), 2, new Rng(42));
        expect(r.test).toBe("students");
        expect(r.studentsA).toBe(4);
        expect(r.studentsB).toBe(3);
        // C(7, 4) = 35 relabelings.
        expect(r.permutations).toBe(35);
        expect(r.pFloor).toBeCloseTo(2 / 35, 12);
        expect(r.pValue).toBeCloseTo(2 / 35, 12);
    });

    it("falls back to Monte Carlo over students above 20000 relabelings, with two-sided floor 2/(iters + 1)", () => {
        const { a, b } = build(13, 2, 9);
        const r = compareArms(a, b, 2, new Rng(42));
        // C(18, 9) = 48620 > 20000.
        expect(r.test).toBe("students");
        expect(r.permutations).toBe(20000);
        expect(r.pFloor).toBeCloseTo(2 / 20001, 12);
        expect(r.pValue).toBeCloseTo(2 / 20001, 12);
    });

    it("floors zero probabilities instead of producing infinities", () => {
        const { b } = build(6, 1, 2);
        const a = b.map((e) => ({ ...e, perQuestion: e.perQuestion.map(() => 0), targetProb: 0 }));
        const r = compareArms(a, b, 2, new Rng(42));
        expect(Number.isFinite(r.meanLogRatio)).toBe(true);
        expect(r.meanLogRatio).toBeLessThan(-20);
    });

    it("ranks the target by how much it moved compared with the other items", () => {
        const { a, b } = build(7, 2);
        // Item 4 moves up 4x in every eval of a: the target, up 2x, is then second.
        const a2 = a.map((e) => ({ ...e, distribution: e.distribution.map((p, i) => (i === 4 ? p * 4 : p)) }));
        expect(compareArms(a2, b, 2, new Rng(1)).targetRank).toBe(2);
        expect(itemLogRatios(a2, b)[4]).toBeGreaterThan(Math.log(3.5));
    });

    it("reproduces with the same seed", () => {
        const rng = new Rng(8);
        const a = Array.from({ length: 3 }, (_, i) => makeEval(rng, i, 0.03));
        const b = Array.from({ length: 3 }, (_, i) => makeEval(rng, i, 0.02));
        expect(compareArms(a, b, 2, new Rng(99))).toEqual(compareArms(a, b, 2, new Rng(99)));
    });

    it("rejects arms whose question counts differ", () => {
        const rng = new Rng(9);
        expect(() => compareArms([makeEval(rng, 0, 0.1, { nq: 3 })], [makeEval(rng, 0, 0.1, { nq: 4 })], 2, new Rng(1))).toThrow(/questions/);
    });
});

describe("summarizeArm", () => {
    it("pools sampled hits, averages distributions and brackets the mean", () => {
        const rng = new Rng(10);
        const evals = Array.from({ length: 3 }, (_, i) => makeEval(rng, i, 0.05));
        const s = summarizeArm(evals, new Rng(1));
        const hits = evals.reduce((t, e) => t + e.sampled.hits, 0);
        expect(s.sampled.hits).toBe(hits);
        expect(s.sampled.n).toBe(300);
        expect(s.sampled.rate).toBeCloseTo(hits / 300, 12);
        // A cluster bootstrap over the students (these evals kept no per-question counts): it brackets the rate.
        expect(s.sampled.interval).toBe("cluster");
        expect(s.sampled.ci95[0]).toBeLessThanOrEqual(hits / 300);
        expect(s.sampled.ci95[1]).toBeGreaterThanOrEqual(hits / 300);
        const meanTarget = evals.reduce((t, e) => t + e.targetProb, 0) / 3;
        expect(s.targetProb.mean).toBeCloseTo(meanTarget, 12);
        expect(s.targetProb.ci95[0]).toBeLessThan(meanTarget);
        expect(s.targetProb.ci95[1]).toBeGreaterThan(meanTarget);
        expect(s.distribution).toHaveLength(6);
        expect(s.distribution[2]).toBeCloseTo(meanTarget, 12);
    });
});

describe("sampledRateCI", () => {
    const withCounts = (seed: number, perQuestion: number[], per: number): ModelEval => ({
        seed,
        model: "m.gguf",
        lora: null,
        dataset: null,
        perQuestion: perQuestion.map(() => 0.1),
        targetProb: 0.1,
        sampled: { hits: perQuestion.reduce((a, b) => a + b, 0), n: per * perQuestion.length, perQuestion },
        distribution: [0.1],
    });

    it("is wider than a pooled Wilson interval when students differ (answers of one student are not independent)", () => {
        // Five students at 0%, 5%, 10%, 30% and 55% of 200 answers (50 questions x 4): pooled 20%.
        const rates = [0, 0.05, 0.1, 0.3, 0.55];
        const evals = rates.map((r, s) =>
            withCounts(
                s,
                Array.from({ length: 50 }, (_, q) => (q < Math.round(r * 50) ? 4 : 0)),
                4,
            ),
        );
        const hits = evals.reduce((t, e) => t + e.sampled.hits, 0);
        const pooled = wilson(hits, 1000);
        const r = sampledRateCI(evals, new Rng(1));
        expect(r.method).toBe("cluster");
        expect(r.ci95[1] - r.ci95[0]).toBeGreaterThan(3 * (pooled[1] - pooled[0]));
        expect(r.ci95[0]).toBeLessThan(hits / 1000);
        expect(r.ci95[1]).toBeGreaterThan(hits / 1000);
    });

    it("resamples questions for a single model with per-question counts, and falls back to Wilson without them", () => {
        const one = withCounts(
            0,
            Array.from({ length: 20 }, (_, q) => (q < 5 ? 4 : 0)),
            4,
        );
        const r = sampledRateCI([one], new Rng(1));
        expect(r.method).toBe("cluster");
        expect(r.ci95[0]).toBeLessThan(0.25);
        expect(r.ci95[1]).toBeGreaterThan(0.25);
        const bare = { ...one, sampled: { hits: 20, n: 80 } };
        expect(sampledRateCI([bare], new Rng(1))).toEqual({ ci95: wilson(20, 80), method: "wilson" });
    });
});
