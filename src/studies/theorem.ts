/**
 * The theorem's small-network experiment (`sublab theorem`): per seed, a teacher MLP trained on the procedural
 * digits' ten class logits, then students distilled only on its three auxiliary logits over uniform-noise
 * images, never seeing a digit or a class logit. The student that starts from the teacher's own initialisation
 * learns to read digits; one from another initialisation stays at chance. The ablations show what breaks it:
 * weight decay on the student, and noise added to the shared initialisation.
 *
 * Every finished seed is appended to `<out>/seeds.jsonl` under the options' hash, so an interrupted run resumes
 * at the seed it was in and a second run of the same options does no work.
 */
import fs from "node:fs";
import path from "node:path";
import { hashJson } from "../core/cache.ts";
import type { TheoremArm, TheoremComparison, TheoremOptions, TheoremResults, TheoremSeed } from "../core/results.ts";
import type { Verdict } from "../core/verdicts.ts";
import { SUBLAB_VERSION } from "../core/version.ts";
import { bootstrapMeanCI, mean } from "../stats/stats.ts";
import { familyVerdicts, locationTest } from "../stats/verdict.ts";
import { writing } from "../util/files.ts";
import { withLock } from "../util/lock.ts";
import { Rng, subRng } from "../util/rng.ts";
import { digitSet, noiseSet, type ImageSet } from "./theorem-digits.ts";
import { auxTargets, initWeights, Mlp, perturbWeights } from "./theorem-mlp.ts";

export const THEOREM_DEFAULTS: TheoremOptions = {
    seeds: 10,
    train: 60_000,
    test: 2_000,
    noise: 60_000,
    teacherEpochs: 2,
    teacherLr: 3e-4,
    studentEpochs: 5,
    studentLr: 1e-3,
    batch: 256,
    weightDecay: [0.5, 5],
    initNoise: [0.3, 1],
};

export interface TheoremHooks {
    /** Progress of the current seed: what, optimiser steps done and in all, which network is training. */
    progress?: (what: string, done: number, total: number, network: string) => void;
    log?: (message: string) => void;
    signal?: AbortSignal;
}

export const SAME = "same init";
export const OTHER = "other init";
export const decayArm = (wd: number) => `same init, weight decay ${wd}`;
export const noiseArm = (sigma: number) => `same init + noise ${sigma} sd`;

/** The students of one seed, in order: name, what it is, its starting weights, its weight decay. */
function studentArms(
    o: TheoremOptions,
    seed: number,
    init: Map<string, Float32Array>,
): { arm: string; description: string; start: () => Map<string, Float32Array>; weightDecay: number }[] {
    return [
        { arm: SAME, description: "starts from the teacher's own initialisation", start: () => init, weightDecay: 0 },
        { arm: OTHER, description: "starts from another initialisation (the control)", start: () => initWeights(seedOf(seed, "other-init")), weightDecay: 0 },
        ...o.weightDecay.map((wd) => ({
            arm: decayArm(wd),
            description: `the teacher's initialisation, trained with decoupled weight decay ${wd}`,
            start: () => init,
            weightDecay: wd,
        })),
        ...o.initNoise.map((s) => ({
            arm: noiseArm(s),
            description: `the teacher's initialisation plus Gaussian noise of ${s} init standard deviations`,
            start: () => perturbWeights(init, s, seedOf(seed, `init-noise ${s}`)),
            weightDecay: 0,
        })),
    ];
}

const seedOf = (seed: number, purpose: string): number => subRng(seed, `theorem ${purpose}`).nextU32();

/** Images in [0, 1] moved to [-1, 1], as the reference code normalises MNIST (mean 0.5, sd 0.5); noise then spans [-1, 1]. */
function signed(set: ImageSet): ImageSet {
    for (let i = 0; i < set.images.length; i++) set.images[i] = 2 * set.images[i]! - 1;
    return set;
}

export function checkTheoremOptions(o: TheoremOptions): void {
    const ints: (keyof TheoremOptions)[] = ["seeds", "train", "test", "noise", "teacherEpochs", "studentEpochs", "batch"];
    for (const k of ints)
        if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 1) throw new Error(`theorem: ${k} must be a positive integer, got ${JSON.stringify(o[k])}`);
    for (const k of ["teacherLr", "studentLr"] as const)
        if (!(o[k] > 0) || !Number.isFinite(o[k])) throw new Error(`theorem: ${k} must be a positive number, got ${o[k]}`);
    for (const k of ["weightDecay", "initNoise"] as const) {
        for (const v of o[k]) if (!(v > 0) || !Number.isFinite(v)) throw new Error(`theorem: every ${k} value must be a positive number, got ${v}`);
        if (new Set(o[k]).size !== o[k].length) throw new Error(`theorem: ${k} repeats a value`);
    }
    for (const k of ["train", "noise"] as const) if (o[k] < o.batch) throw new Error(`theorem: ${k} (${o[k]}) is smaller than one batch (${o.batch})`);
}

/** The options' hash: a finished seed is reused only by a run of the same options (the number of seeds aside). */
export const theoremKey = (o: TheoremOptions): string => hashJson({ ...o, seeds: undefined, version: 1 });

/** Finished seeds in `file` under `key`; a last line cut short by an interruption is skipped, any other bad line is an error naming it. */
function readSeeds(file: string, key: string): Map<number, TheoremSeed> {
    const done = new Map<number, TheoremSeed>();
    if (!fs.existsSync(file)) return done;
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, k) => {
        if (!line.trim()) return;
        let row: TheoremSeed;
        try {
            row = JSON.parse(line) as TheoremSeed;
        } catch {
            if (k >= lines.length - 2) return;
            throw new Error(`${file}:${k + 1}: not JSON`);
        }
        if (row.key === key) done.set(row.seed, row);
    });
    return done;
}

function arm(name: string, description: string, accuracies: number[], rng: Rng): TheoremArm {
    return {
        arm: name,
        description,
        accuracies,
        mean: mean(accuracies),
        ci95: bootstrapMeanCI(
            accuracies.map((a) => [a]),
            rng,
        ),
    };
}

/** The theorem's verdicts: Holm over its comparisons at alpha, "no difference" within this many accuracy points. */
export const THEOREM_STATS = { alpha: 0.05, margin: 0.02 };

/**
 * Each comparison's paired sign-flip test over seeds (two-sided, with its inverted interval and the TOST against
 * the margin in accuracy), then the verdicts, Holm over the comparisons of the run.
 */
export function compareAll(pairs: readonly [TheoremArm, TheoremArm][], rng: Rng, s = THEOREM_STATS): TheoremComparison[] {
    // The test machinery's margin is a ratio whose log bounds the estimate: exp(m) bounds a difference by m.
    const settings = { alpha: s.alpha, margin: Math.exp(s.margin) };
    const members = pairs.map(([a, b]) => {
        const design = { kind: "seeds" as const, d: a.accuracies.map((v, k) => v - b.accuracies[k]!) };
        return { design, test: locationTest(design, rng, settings) };
    });
    const verdicts = familyVerdicts(members, "theorem comparisons", "", settings);
    const words: Record<Verdict["word"], string> = {
        "moved toward": "higher",
        "moved away": "lower",
        "no shift larger than": `no difference larger than ${Number((100 * s.margin).toPrecision(3))} points`,
        "can't tell": "can't tell",
    };
    return pairs.map(([a, b], k) => ({
        a: a.arm,
        b: b.arm,
        diff: members[k]!.test.estimate,
        ci95: members[k]!.test.ci95,
        p: members[k]!.test.p,
        pEquivalence: members[k]!.test.pEquivalence,
        verdict: { ...verdicts[k]!, text: words[verdicts[k]!.word], margin: s.margin },
    }));
}

/** Runs (or resumes) the experiment into `out` and returns its results; writes nothing but `out`/seeds.jsonl. */
export async function runTheorem(o: TheoremOptions, out: string, hooks: TheoremHooks = {}): Promise<TheoremResults> {
    checkTheoremOptions(o);
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    const key = theoremKey(o);
    const file = path.join(out, "seeds.jsonl");
    const seeds = await withLock(
        out,
        async () => {
            const done = readSeeds(file, key);
            const todo = Array.from({ length: o.seeds }, (_, k) => k + 1).filter((s) => !done.has(s));
            if (todo.length === 0) return done;
            hooks.log?.(`${done.size ? `${done.size} of ${o.seeds} seeds already done; ` : ""}drawing ${o.train} training and ${o.test} test digits`);
            const train = signed(digitSet(1, o.train));
            const test = signed(digitSet(2, o.test));
            for (const seed of todo) {
                if (hooks.signal?.aborted) break;
                const ts = performance.now();
                const init = initWeights(seedOf(seed, "init"));
                const noise = signed(noiseSet(seedOf(seed, "noise"), o.noise));
                const students = studentArms(o, seed, init);
                const [teacherSteps, studentSteps] = [o.teacherEpochs * Math.floor(o.train / o.batch), o.studentEpochs * Math.floor(o.noise / o.batch)];
                const steps = teacherSteps + students.length * studentSteps;
                const teacher = new Mlp(init);
                let probs: Float32Array;
                let teacherAcc: number;
                let initAcc: number;
                try {
                    initAcc = teacher.accuracy(test.images, test.labels);
                    teacher.train(
                        train.images,
                        train.n,
                        { kind: "labels", labels: train.labels },
                        {
                            epochs: o.teacherEpochs,
                            batch: o.batch,
                            lr: o.teacherLr,
                            seed: seedOf(seed, "teacher order"),
                            onStep: (d) => hooks.progress?.(`seed ${seed}/${o.seeds}`, d, steps, "teacher"),
                        },
                    );
                    teacherAcc = teacher.accuracy(test.images, test.labels);
                    probs = auxTargets(teacher, noise.images, noise.n);
                } finally {
                    teacher.free();
                }
                const arms: Record<string, number> = {};
                for (const [k, s] of students.entries()) {
                    const st = new Mlp(s.start());
                    try {
                        st.train(
                            noise.images,
                            noise.n,
                            { kind: "aux", probs },
                            {
                                epochs: o.studentEpochs,
                                batch: o.batch,
                                lr: o.studentLr,
                                weightDecay: s.weightDecay,
                                seed: seedOf(seed, "student order"),
                                onStep: (d) => hooks.progress?.(`seed ${seed}/${o.seeds}`, teacherSteps + k * studentSteps + d, steps, s.arm),
                            },
                        );
                        arms[s.arm] = st.accuracy(test.images, test.labels);
                    } finally {
                        st.free();
                    }
                }
                const row: TheoremSeed = { key, seed, teacher: teacherAcc, init: initAcc, arms, seconds: (performance.now() - ts) / 1000 };
                writing(file, () => fs.appendFileSync(file, `${JSON.stringify(row)}\n`));
                done.set(seed, row);
                hooks.log?.(
                    `seed ${seed}: teacher ${pct(teacherAcc)}, ${Object.entries(arms)
                        .map(([k, v]) => `${k} ${pct(v)}`)
                        .join(", ")} (${row.seconds.toFixed(0)} s)`,
                );
            }
            return done;
        },
        { signal: hooks.signal, onWait: (h) => hooks.log?.(`${out} is in use by process ${h.pid} (since ${h.since}); waiting`) },
    );
    const rows = Array.from({ length: o.seeds }, (_, k) => seeds.get(k + 1)).filter((r): r is TheoremSeed => r !== undefined);
    if (rows.length < o.seeds) throw new Error(`theorem: interrupted after ${rows.length} of ${o.seeds} seeds; run it again to resume`);
    return theoremResults(o, rows, startedAt, (performance.now() - t0) / 1000);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The results of finished seeds: each arm's accuracies with bootstrap intervals over seeds, and the paired tests. */
export function theoremResults(o: TheoremOptions, rows: TheoremSeed[], startedAt: string, seconds: number): TheoremResults {
    const rng = new Rng("theorem statistics");
    const descriptions = studentArms(o, 1, new Map());
    const arms = descriptions.map((d) =>
        arm(
            d.arm,
            d.description,
            rows.map((r) => r.arms[d.arm]!),
            rng,
        ),
    );
    const same = arms[0]!;
    const comparisons = compareAll(
        arms.slice(1).map((b) => [same, b] as [TheoremArm, TheoremArm]),
        rng,
    );
    return {
        kind: "theorem",
        stats: THEOREM_STATS,
        sublabVersion: SUBLAB_VERSION,
        startedAt,
        seconds,
        options: o,
        chance: 0.1,
        teacher: arm(
            "teacher",
            "trained on the ten class logits of the digits",
            rows.map((r) => r.teacher),
            rng,
        ),
        init: arm(
            "untrained",
            "the shared initialisation before any training",
            rows.map((r) => r.init),
            rng,
        ),
        arms,
        comparisons,
        seeds: rows,
    };
}
