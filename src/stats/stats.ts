/**
 * The statistics of an experiment: confidence intervals for P(target) and the paired tests that say whether
 * one arm (the treated student) prefers the target more than another (the control student).
 *
 * Everything random here draws from a caller's `Rng`, so a report recomputed from the same results.json and
 * the same seed prints the same intervals and p-values to the last digit.
 *
 * Why these tests: the unit of replication is the trained student (one training seed). The evaluation questions
 * are paraphrases of one question asked of the same student, so they share that student's quirks and are far
 * from independent: a test over (question, seed) pairs once gave p = 0.009 for two arms whose probabilities
 * differed by 1e-6. The primary test therefore treats each student as one observation (a two-sample
 * permutation test over students, or, against a single model, a sign-flip test over per-seed means), which is
 * honest but cannot go below its floor (1/C(na+nb, na), or 2^-seeds). The questions-level test is kept as a
 * secondary, labelled optimistic. The bootstrap resamples at both levels.
 */
import type { ArmResult, ComparisonResult, ModelEval } from "../core/results.ts";
import type { Rng } from "../util/rng.ts";
import { binomialCapped, DEFAULT_STATS, locationTest, type Design, type StatsSettings } from "./verdict.ts";
import { signFlipTest } from "./permutation.ts";
export { reductionVerdicts, withVerdicts } from "./families.ts";

/**
 * Probabilities are floored here before taking logs: an exact zero would make a log ratio infinite. A judged
 * P(misaligned) is a mean over a few sampled answers, where zero is an ordinary outcome (every answer
 * incoherent, or all aligned): its comparisons floor at half an answer's worth (judgedFloor), or one question
 * at 0 against 0.0006 would outweigh fifteen that moved the other way (log ratio -13).
 */
export const PROB_FLOOR = 1e-12;

/**
 * Wilson score interval for a binomial proportion. Used for sampled rates, which are often 0 or a few
 * hits out of hundreds, where the normal approximation gives intervals below 0 or of zero width.
 */
export function wilson(hits: number, n: number, z = 1.96): [number, number] {
    if (n <= 0) return [0, 1];
    const p = hits / n;
    const z2 = z * z;
    const denom = 1 + z2 / n;
    const center = (p + z2 / (2 * n)) / denom;
    const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
    return [Math.max(0, center - half), Math.min(1, center + half)];
}

/** The q-quantile (0..1) of sorted values, linear between order statistics. */
function quantileSorted(sorted: number[], q: number): number {
    if (sorted.length === 0) return NaN;
    const pos = (sorted.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function mean(values: readonly number[]): number {
    if (values.length === 0) return NaN;
    let s = 0;
    for (const v of values) s += v;
    return s / values.length;
}

/**
 * 95% percentile interval of the grand mean of `values[seed][question]` by a two-level bootstrap: each
 * replicate resamples seeds with replacement, then questions with replacement within each drawn seed. Both
 * sources of variation (which student we happened to train, which paraphrases we happened to ask) widen the
 * interval. With one seed it reduces to a bootstrap over questions.
 */
export function bootstrapMeanCI(values: number[][], rng: Rng, iters = 2000): [number, number] {
    const rows = values.filter((r) => r.length > 0);
    if (rows.length === 0) return [NaN, NaN];
    const means = new Array<number>(iters);
    for (let it = 0; it < iters; it++) {
        let sum = 0;
        let count = 0;
        for (let s = 0; s < rows.length; s++) {
            const row = rows[rng.int(rows.length)];
            for (let q = 0; q < row.length; q++) sum += row[rng.int(row.length)];
            count += row.length;
        }
        means[it] = sum / count;
    }
    means.sort((x, y) => x - y);
    return [quantileSorted(means, 0.025), quantileSorted(means, 0.975)];
}

/**
 * The evals of two arms paired: student of seed s in a with student of seed s in b (matched by seed number, never
 * by list position: a failed seed leaves its partner unpaired), or, when one side is a single model (the base
 * model, the teacher), every eval of the other side with that one. Evals without distinct seed numbers pair by position.
 */
export function pairEvals(a: readonly ModelEval[], b: readonly ModelEval[]): [ModelEval, ModelEval][] {
    if (a.length === 0 || b.length === 0) return [];
    if (a.length === 1 && b.length > 1) return b.map((e) => [a[0]!, e]);
    if (b.length === 1 && a.length > 1) return a.map((e) => [e, b[0]!]);
    const seeded = (xs: readonly ModelEval[]) => xs.every((e) => e.seed !== null) && new Set(xs.map((e) => e.seed)).size === xs.length;
    if (seeded(a) && seeded(b)) {
        const bySeed = new Map(b.map((e) => [e.seed, e] as const));
        return a.filter((e) => bySeed.has(e.seed)).map((e) => [e, bySeed.get(e.seed)!]);
    }
    const n = Math.min(a.length, b.length);
    const pairs: [ModelEval, ModelEval][] = [];
    for (let i = 0; i < n; i++) pairs.push([a[i]!, b[i]!]);
    return pairs;
}

const logFloored = (p: number) => Math.log(Math.max(p, PROB_FLOOR));

/** Per question, log P_a(target) - log P_b(target) of two evals of the same questions, probabilities floored at `floor`. */
export function questionLogRatios(a: ModelEval, b: ModelEval, floor = PROB_FLOOR): number[] {
    return logRatios(a.perQuestion, b.perQuestion, floor);
}

/** Per question, log a - log b, each probability floored. */
export function logRatios(a: readonly number[], b: readonly number[], floor = PROB_FLOOR): number[] {
    return a.map((p, q) => Math.log(Math.max(p, floor)) - Math.log(Math.max(b[q]!, floor)));
}

/** Transfer per seed: the mean over questions of log P_treated(target) - log P_control(target), paired by seed. */
export function seedTransfers(treated: readonly ModelEval[], control: readonly ModelEval[], floor = PROB_FLOOR): number[] {
    return pairEvals(treated, control).map(([t, c]) => mean(questionLogRatios(t, c, floor)));
}

/** The floor of a judged P(misaligned) per question: half of one answer among `samples`. */
export const judgedFloor = (samples: number) => 0.5 / Math.max(1, samples);

/**
 * For each item of the category, the mean over paired evals of log(P_a(item) / P_b(item)): how far the
 * whole answer distribution moved. Used for the target's rank and for the report's distribution-shift chart.
 */
export function itemLogRatios(a: readonly ModelEval[], b: readonly ModelEval[]): number[] {
    const pairs = pairEvals(a, b);
    if (pairs.length === 0) return [];
    const nItems = Math.min(...pairs.map(([x, y]) => Math.min(x.distribution.length, y.distribution.length)));
    const out = new Array<number>(nItems).fill(0);
    for (const [x, y] of pairs) {
        for (let i = 0; i < nItems; i++) out[i] += logFloored(x.distribution[i]) - logFloored(y.distribution[i]);
    }
    return out.map((v) => v / pairs.length);
}

/** A student's mean log P(target) over the questions, probabilities floored. */
function studentMean(e: ModelEval, floor: number): number {
    if (e.perQuestion.length === 0) throw new Error(`an eval of ${e.model} has no questions`);
    return mean(e.perQuestion.map((p) => Math.log(Math.max(p, floor))));
}

/**
 * The design of comparing arm a with arm b: two samples of students (each student's mean log P(target) over the
 * questions), or, when one arm is a single model (the base model, the teacher), one sample of the other arm's
 * per-student mean log ratios against it. Every student counts, also one whose partner seed failed.
 */
export function comparisonDesign(a: readonly ModelEval[], b: readonly ModelEval[], floor = PROB_FLOOR): Design {
    if (a.length === 0 || b.length === 0) throw new Error(`cannot compare arms with ${a.length} and ${b.length} evals`);
    for (const [x, y] of pairEvals(a, b)) {
        if (x.perQuestion.length !== y.perQuestion.length)
            throw new Error(`seed ${x.seed ?? "-"}: ${x.perQuestion.length} vs ${y.perQuestion.length} questions; both must be the same number`);
    }
    if (a.length === 1 || b.length === 1) return { kind: "seeds", d: pairEvals(a, b).map(([x, y]) => mean(questionLogRatios(x, y, floor))) };
    return { kind: "students", a: a.map((e) => studentMean(e, floor)), b: b.map((e) => studentMean(e, floor)) };
}

/**
 * Compares arm a with arm b on the target (a's P(target) over b's). `targetIndex` is the target's position in
 * the evals' `distribution` (Results.items).
 *
 * The test, its interval and the equivalence test are one permutation design over students (./verdict.ts):
 * two-sample when both arms have several students, sign-flip against a single model otherwise. The verdict is
 * drawn later, over the family the comparison belongs to (withVerdicts). The questions-level sign-flip test is
 * kept as a secondary, labelled optimistic: it counts paraphrases asked of one student as independent.
 */
export function compareArms(
    a: readonly ModelEval[],
    b: readonly ModelEval[],
    targetIndex: number,
    rng: Rng,
    floor = PROB_FLOOR,
    settings: StatsSettings = DEFAULT_STATS,
): Omit<ComparisonResult, "name" | "a" | "b"> {
    const design = comparisonDesign(a, b, floor);
    const t = locationTest(design, rng, settings);
    const flat = pairEvals(a, b).flatMap(([x, y]) => questionLogRatios(x, y, floor));
    const questionsTest = signFlipTest(flat, rng);
    const ratios = itemLogRatios(a, b);
    const targetScore = ratios[targetIndex];
    if (targetScore === undefined) throw new Error(`target index ${targetIndex} is outside the ${ratios.length} items`);
    const targetRank = 1 + ratios.filter((r) => r > targetScore).length;
    return {
        meanLogRatio: t.estimate,
        ci95: t.ci95,
        probRatio: mean(a.map((e) => e.targetProb)) / mean(b.map((e) => e.targetProb)),
        pValue: t.p,
        pUp: t.pUp,
        pEquivalence: t.pEquivalence,
        pValueQuestions: questionsTest.p,
        test: t.design,
        pFloor: t.floor,
        studentsA: a.length,
        studentsB: b.length,
        targetRank,
        permutations: t.permutations,
        design,
    };
}

/**
 * 95% interval of a sampled rate (answers naming the target, or judged misaligned) by a cluster bootstrap: answers
 * of one student are not independent, nor are answers to one question, so each replicate resamples students, then
 * questions within each drawn student (when the eval kept its per-question counts; otherwise it draws the
 * student's answers again at its own rate), and pools their answers. A single model without per-question counts
 * has nothing to resample: a Wilson interval over its answers, labelled.
 */
export function sampledRateCI(evals: readonly ModelEval[], rng: Rng, iters = 2000): { ci95: [number, number]; method: "cluster" | "wilson" } {
    const withN = evals.filter((e) => e.sampled.n > 0);
    if (withN.length === 0) return { ci95: [0, 1], method: "wilson" };
    const byQuestion = withN.every((e) => e.sampled.perQuestion && e.sampled.perQuestion.length > 0);
    if (withN.length === 1 && !byQuestion) {
        const e = withN[0]!;
        return { ci95: wilson(e.sampled.hits, e.sampled.n), method: "wilson" };
    }
    const rates = new Array<number>(iters);
    for (let it = 0; it < iters; it++) {
        let hits = 0;
        let n = 0;
        for (let s = 0; s < withN.length; s++) {
            const e = withN[rng.int(withN.length)]!;
            if (byQuestion) {
                const q = e.sampled.perQuestion!;
                const per = e.sampled.n / q.length;
                for (let k = 0; k < q.length; k++) hits += q[rng.int(q.length)]!;
                n += per * q.length;
            } else {
                // No per-question counts (an evaluation cached before they were kept): the student's answers drawn
                // again at its own rate, so that the noise within a student is not lost with five students.
                const p = e.sampled.hits / e.sampled.n;
                for (let k = 0; k < e.sampled.n; k++) if (rng.next() < p) hits++;
                n += e.sampled.n;
            }
        }
        rates[it] = hits / n;
    }
    rates.sort((x, y) => x - y);
    return { ci95: [quantileSorted(rates, 0.025), quantileSorted(rates, 0.975)], method: "cluster" };
}

/** The per-arm summary: mean P(target) with a questions x seeds bootstrap interval, the sampled rate with a cluster-bootstrap interval, mean distribution. */
export function summarizeArm(evals: readonly ModelEval[], rng: Rng): Pick<ArmResult, "targetProb" | "sampled" | "distribution" | "exact"> {
    if (evals.length === 0) throw new Error("cannot summarize an arm with no evals");
    let hits = 0;
    let n = 0;
    for (const e of evals) {
        hits += e.sampled.hits;
        n += e.sampled.n;
    }
    const nItems = Math.min(...evals.map((e) => e.distribution.length));
    const distribution = new Array<number>(nItems).fill(0);
    for (const e of evals) for (let i = 0; i < nItems; i++) distribution[i] += e.distribution[i] / evals.length;
    const targetProb = {
        mean: mean(evals.map((e) => e.targetProb)),
        ci95: bootstrapMeanCI(
            evals.map((e) => e.perQuestion),
            rng,
        ),
    };
    const rate = sampledRateCI(evals, rng);
    return {
        targetProb,
        sampled: { hits, n, rate: n > 0 ? hits / n : 0, ci95: rate.ci95, interval: rate.method },
        distribution,
        ...(evals.every((e) => e.exact)
            ? {
                  exact: {
                      mean: mean(evals.map((e) => mean(e.exact!))),
                      ci95: bootstrapMeanCI(
                          evals.map((e) => e.exact!),
                          rng,
                      ),
                  },
              }
            : {}),
    };
}

/** Evaluations with the exact measure in place of P(target) (for compareArms), or undefined when any lacks it. */
export function exactEvals(evals: readonly ModelEval[]): ModelEval[] | undefined {
    if (!evals.every((e) => e.exact)) return undefined;
    return evals.map((e) => ({ ...e, perQuestion: e.exact!, targetProb: mean(e.exact!), distribution: [1 - mean(e.exact!), mean(e.exact!)] }));
}

/**
 * How much of a reference arm's transfer a defense left. Transfer of one seed = mean over questions of
 * log P_treated(target) - log P_control(target), with the treated and the control student of that seed
 * (paired by seed number: same prompts, same training seed). `left` = mean transfer of the defended arm over that
 * of the reference. The test is the verdict design over seeds (two-sample, ./verdict.ts): `pValue` two-sided,
 * `pUp` one-sided (H1: the reference's per-seed transfers are larger, the defense removed some), and the
 * difference (reference - defended) with its inverted interval, so a family of defenses gets verdicts.
 */
export function transferReduction(
    ref: { treated: readonly ModelEval[]; control: readonly ModelEval[] },
    arm: { treated: readonly ModelEval[]; control: readonly ModelEval[] },
    rng: Rng,
    settings: StatsSettings = DEFAULT_STATS,
): {
    left: number;
    removed: number;
    ci95: [number, number];
    pValue: number;
    pUp: number;
    pEquivalence: number;
    pFloor: number;
    permutations: number;
    design: Design;
} {
    const a = seedTransfers(ref.treated, ref.control);
    const b = seedTransfers(arm.treated, arm.control);
    const design: Design = { kind: "students", a, b };
    const t = locationTest(design, rng, settings);
    return {
        left: mean(b) / mean(a),
        removed: t.estimate,
        ci95: t.ci95,
        pValue: t.p,
        pUp: t.pUp,
        pEquivalence: t.pEquivalence,
        pFloor: t.floor,
        permutations: t.permutations,
        design,
    };
}
