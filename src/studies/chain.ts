/**
 * `sublab chain`: generations of model-on-model training. Generation 1 is `sublab run`'s treated student (the
 * base trained on the teacher's data); generation g+1 is a fresh student of the same base trained on data that
 * generation g wrote. A control chain runs beside it from the base without the trait (generation 1: the
 * control student), on the same prompts with the same sampling noise, so that each generation's treated
 * students are compared with control students that went through as many rounds of training on model output.
 * Every seed is its own lineage (seed s of generation g+1 learns from seed s of generation g).
 *
 * Data each generation trains on:
 *   replaced     only the rows the previous generation wrote (student.rows of them);
 *   accumulated  those, and every earlier generation's rows of its lineage (student.rows x g rows), as in
 *                the model-collapse studies where accumulating data bounds the drift and replacing it does not.
 * Soft labels (student.labels "soft") come from each row's own writer.
 *
 * A chain file (experiments/chain-owl.json):
 *   name, description, experiment, overrides   as a sweep file's (src/studies/sweep.ts)
 *   generations   1..20: 4
 *   data          non-empty list of distinct "replaced" | "accumulated": both
 *   prompts       >= 1: prompts each lineage writes at every later generation (generation 1 uses the experiment's
 *                 generation): student.rows x 1.5, rounded up
 * Every dataset, student and evaluation is cached as in `sublab run`: a chain resumes where it stopped, and
 * generation 1 is the experiment's own students.
 */
import path from "node:path";
import { checkInterrupted, type RunOptions, type StageContext } from "../core/context.ts";
import type { ModelSource } from "../core/jobs.ts";
import type { KeptRow } from "../core/rows.ts";
import type { ChainGeneration, ChainMode, ChainResults, ChainTrend } from "../core/results.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { ModelEval, StudyRunResult } from "../core/results.ts";
import { datasetStage } from "../data/dataset-stage.ts";
import { defendStage } from "../data/defend-stage.ts";
import { evalStage } from "../evaluate/eval-stage.ts";
import { writeChainReport, chainTable } from "../report/chain-report.ts";
import { armResult, comparisonFloor, statisticsRng } from "../stats/run-statistics.ts";
import { compareArms, exactEvals, mean, seedTransfers, withVerdicts, PROB_FLOOR } from "../stats/stats.ts";
import { DEFAULT_STATS, locationTest, type StatsSettings, type Verdict } from "../stats/verdict.ts";
import { pairedOrder, seedRows, seedSlice, trainStudent, type StudentRef } from "../students/student-stage.ts";
import type { Teacher } from "../teacher/teacher.ts";
import { readJsonFile } from "../util/files.ts";
import { Rng, subRng } from "../util/rng.ts";
import { absentOr, check, int, list, object, oneOf, opt, req, str, throwErrors } from "./checks.ts";
import { conductStudy, eachJob, studyDesign, withConfig, type Study } from "./skeleton.ts";
import { CHAIN_REPORT } from "./reports.ts";
import { experimentOf, isJsonObject } from "./sweep.ts";

export const CHAIN_MODES = ["replaced", "accumulated"] as const satisfies readonly ChainMode[];
export type { ChainGeneration, ChainMode, ChainResults, ChainTrend };

export interface ChainConfig {
    name: string;
    description: string;
    experimentFile: string;
    experiment: ExperimentConfig;
    generations: number;
    data: ChainMode[];
    prompts: number;
}

const chainFile = object({
    name: req(str("lowercase letters, digits and dashes", (s) => /^[a-z0-9][a-z0-9-]*$/.test(s))),
    description: opt(str(), ""),
    experiment: req(str("the path of an experiment file", (s) => s !== "")),
    overrides: opt(check<Record<string, unknown>>("an object", isJsonObject), {}),
    generations: opt(int(1, 20), 4),
    data: opt(list(oneOf([...CHAIN_MODES]), { nonEmpty: true, distinct: true }), [...CHAIN_MODES]),
    prompts: opt(absentOr(int(1)), undefined),
});

/** Checks a parsed chain file (every problem at once, each naming its JSON path) and loads its experiment. */
export function parseChain(json: unknown, file: string): ChainConfig {
    const errors: string[] = [];
    const ch = chainFile.parse(json, "", errors);
    const experiment = experimentOf(json, file, errors);
    if (experiment && !experiment.student.paired) errors.push("student.paired: a chain pairs its lineages' rows; set student.paired to true");
    if (experiment?.student.mix !== undefined)
        errors.push("student.mix: a dose is for run, sweep and study; a chain's students take all of their lineage's rows");
    throwErrors(errors, file, "the chain", false);
    const { name, description, experiment: experimentFile, generations, data } = ch!;
    return { name, description, experimentFile, experiment: experiment!, generations, data, prompts: ch!.prompts ?? Math.ceil(experiment!.student.rows * 1.5) };
}

export const loadChain = (file: string): ChainConfig => parseChain(readJsonFile(file), file);

export type ChainRunResult = StudyRunResult<ChainResults>;

interface Lineage {
    /** The rows this lineage's students trained on so far, in parts (accumulated mode trains on all of them). */
    parts: { ds: DatasetManifest; rows: KeptRow[] }[];
    student?: StudentRef;
}

/** The context of generation g >= 2: its own prompts and sampling seeds (shared by the treated and control lineages), and as many as the chain asks. */
function generationContext(c: StageContext, ch: ChainConfig, g: number): StageContext {
    const cfg = c.cfg;
    return withConfig(c, { ...cfg, seed: subRng(cfg.seed, `chain-generation-${g}`).nextU32(), generate: { ...cfg.generate, prompts: ch.prompts } });
}

/** A lineage's rows of one generation: the prompts both datasets kept, in its seed's order, the first student.rows. */
function pairedRows(c: StageContext, t: DatasetManifest, k: DatasetManifest, s: number, g: number, ch: ChainConfig): [KeptRow[], KeptRow[]] {
    const n = c.cfg.student.rows;
    const [tk, kk] = [c.kept(t), c.kept(k)];
    const kByI = new Map(kk.map((r) => [r.i, r]));
    const common = tk.filter((r) => kByI.has(r.i));
    if (common.length < n) {
        throw new Error(
            `generation ${g}, lineage ${s + 1}: ${common.length} prompts have a kept row in both the treated and the control data, fewer than student.rows (${n}); raise the chain's prompts (${ch.prompts})`,
        );
    }
    const picked = new Rng(subRng(c.cfg.seed, `chain-rows-${s}`).nextU32()).shuffle(common).slice(0, n);
    return [picked, picked.map((r) => kByI.get(r.i)!)];
}

/** Runs (or resumes) a chain and writes its report to runs/<name>/. */
export async function runChain(ch: ChainConfig, opts: RunOptions = {}): Promise<ChainRunResult> {
    const cfg = ch.experiment;
    const seeds = cfg.student.seeds;
    return (await conductStudy({
        name: ch.name,
        cfg,
        opts,
        report: CHAIN_REPORT,
        design: studyDesign(cfg, [
            { name: "generations (treated vs control per generation)", kind: "students", na: seeds, size: ch.generations * ch.data.length },
            ...(ch.generations > 1
                ? [{ name: "trends (last generation against the first, per lineage)", kind: "seeds" as const, na: seeds, size: ch.data.length }]
                : []),
        ]),
        prepare: (study) => study.teacher(),
        students: () => seeds * 2 * (1 + (ch.generations - 1) * ch.data.length),
        stages: (study, teacher) => chainStages(ch, study, teacher),
    })) as ChainRunResult;
}

/** A chain's generations, evaluations and statistics (in the study's worker pool). */
async function chainStages(ch: ChainConfig, study: Study, teacher: Teacher): Promise<{ results: () => ChainResults }> {
    const cfg = ch.experiment;
    const seeds = cfg.student.seeds;
    const { c, items } = study;
    const baseSource: ModelSource = { model: cfg.models.base, lora: null, system: null };
    // evals[mode][g] = { treated: per lineage, control: per lineage }
    const evals = new Map<string, { treated: ModelEval[]; control: ModelEval[]; datasets: { treated: string[]; control: string[] } }>();
    let baseEval: ModelEval | undefined;
    let teacherEval: ModelEval | undefined;

    {
        // Generation 1: `sublab run`'s treated and control students (the same datasets, subsamples and seeds).
        const formatted = await eachJob(
            c,
            [
                ["teacher", teacher],
                ["control", baseSource],
            ] as const,
            ([role, src]) => datasetStage(c, role, src),
        );
        const t1 = await defendStage(c, formatted[0]!, cfg.filter.defenses);
        const k1 = await defendStage(c, formatted[1]!, cfg.filter.defenses);
        const order = pairedOrder(c, [t1, k1]);
        const gen1 = await eachJob(
            c,
            Array.from({ length: seeds }, (_, s) => (["treated", "control"] as const).map((arm) => ({ arm, s }))).flat(),
            ({ arm, s }) => {
                const ds = arm === "treated" ? t1 : k1;
                const part = { ds, rows: seedRows(c, ds, s, seedSlice(order, s, cfg.student.rows)) };
                return trainStudent(c, {
                    arm,
                    base: cfg.models.base,
                    dataset: ds,
                    s,
                    label: `generation 1: ${arm}`,
                    parts: [part],
                    chain: { mode: ch.data.length > 1 ? "shared" : ch.data[0]!, generation: 1, arm },
                }).then((st) => ({ arm, s, st, part }));
            },
        );
        const lineages = new Map<string, Lineage>();
        for (const mode of ch.data) {
            for (const x of gen1) lineages.set(`${mode}/${x.arm}/${x.s}`, { parts: [x.part], student: x.st });
        }
        const evalGeneration = async (g: number, mode: ChainMode) => {
            const of = (arm: "treated" | "control") => Array.from({ length: seeds }, (_, s) => lineages.get(`${mode}/${arm}/${s}`)!);
            const todo = (["treated", "control"] as const).flatMap((arm) => of(arm).map((l, s) => ({ arm, s, st: l.student! })));
            const scored = await eachJob(c, todo, (x) =>
                evalStage(
                    c,
                    x.st,
                    { arm: `${mode} generation ${g}: ${x.arm}`, seed: x.s, dataset: x.st.dataset.id, chain: { mode, generation: g, arm: x.arm } },
                    `${mode} generation ${g}: ${x.arm} #${x.s + 1}`,
                ),
            );
            evals.set(`${mode}/${g}`, {
                treated: scored.slice(0, seeds),
                control: scored.slice(seeds),
                datasets: { treated: of("treated").map((l) => l.parts.at(-1)!.ds.id), control: of("control").map((l) => l.parts.at(-1)!.ds.id) },
            });
        };
        [baseEval, teacherEval] = await eachJob(c, [0, 1], (k) => (k === 0 ? study.evaluateBase() : study.evaluateTeacher(teacher)));
        for (const mode of ch.data) await evalGeneration(1, mode);

        for (let g = 2; g <= ch.generations; g++) {
            checkInterrupted(c, `generation ${g}`);
            const cg = generationContext(c, ch, g);
            for (const mode of ch.data) {
                c.log(`chain ${ch.name}: generation ${g} (${mode} data)`);
                const pairs = Array.from({ length: seeds }, (_, s) => s);
                // Each lineage's previous generation writes its data: treated and control, same prompts and noise.
                const written = await eachJob(
                    cg,
                    pairs.flatMap((s) => (["treated", "control"] as const).map((arm) => ({ s, arm }))),
                    async ({ s, arm }) => {
                        const l = lineages.get(`${mode}/${arm}/${s}`)!;
                        const ds = await datasetStage(cg, arm === "treated" ? "teacher" : "control", {
                            model: l.student!.model,
                            lora: l.student!.lora,
                            system: null,
                        });
                        return defendStage(cg, ds, cfg.filter.defenses);
                    },
                );
                const parts = pairs.map((s) => pairedRows(cg, written[2 * s]!, written[2 * s + 1]!, s, g, ch));
                await eachJob(
                    cg,
                    pairs.flatMap((s) => (["treated", "control"] as const).map((arm, a) => ({ s, arm, a }))),
                    ({ s, arm, a }) => {
                        const l = lineages.get(`${mode}/${arm}/${s}`)!;
                        const part = { ds: written[2 * s + a]!, rows: parts[s]![a]! };
                        const all = mode === "accumulated" ? [...l.parts, part] : [part];
                        return trainStudent(cg, {
                            arm,
                            base: cfg.models.base,
                            dataset: part.ds,
                            s,
                            label: `${mode} generation ${g}: ${arm}`,
                            parts: all,
                            chain: { mode, generation: g, arm },
                        }).then((st) => ((l.parts = all), (l.student = st)));
                    },
                );
                await evalGeneration(g, mode);
            }
        }
    }

    const rng = statisticsRng(cfg);
    const t = items.indexOf(cfg.teacher.target);
    const floor = comparisonFloor(cfg);
    const generations: ChainGeneration[] = [];
    for (const mode of ch.data) {
        for (let g = 1; g <= ch.generations; g++) {
            const e = evals.get(`${mode}/${g}`)!;
            const [ea, eb] = [exactEvals(e.treated), exactEvals(e.control)];
            generations.push({
                generation: g,
                mode,
                rows: mode === "accumulated" ? g * cfg.student.rows : cfg.student.rows,
                treated: armResult("treated", `students of generation ${g}, ${mode} data, from the teacher's lineage`, e.treated, rng),
                control: armResult("control", `students of generation ${g}, ${mode} data, from the base's lineage`, e.control, rng),
                transfer: compareArms(e.treated, e.control, t, rng, floor, cfg.stats),
                // Judged traits: misaligned is item 1 of [aligned, misaligned] on the exact measure.
                ...(ea && eb
                    ? {
                          exact: {
                              treated: mean(ea.map((x) => x.targetProb)),
                              control: mean(eb.map((x) => x.targetProb)),
                              transfer: compareArms(ea, eb, 1, rng, undefined, cfg.stats),
                          },
                      }
                    : {}),
                datasets: e.datasets,
            });
        }
    }
    const settings = cfg.stats ?? DEFAULT_STATS;
    withVerdicts(
        generations.map((g) => g.transfer),
        "generations",
        cfg.teacher.target,
        settings,
    );
    const exactTransfers = generations.flatMap((g) => (g.exact ? [g.exact.transfer] : []));
    if (exactTransfers.length) withVerdicts(exactTransfers, "generations (exact measure)", cfg.teacher.target, settings);
    const trends: ChainTrend[] =
        ch.generations < 2
            ? []
            : ch.data.map((mode) => chainTrend(mode, evals.get(`${mode}/1`)!, evals.get(`${mode}/${ch.generations}`)!, floor ?? PROB_FLOOR, rng, settings));
    chainTrendVerdicts(trends, settings);
    const exactOf = (x: { treated: ModelEval[]; control: ModelEval[] }) => {
        const [a, b] = [exactEvals(x.treated), exactEvals(x.control)];
        return a && b ? { treated: a, control: b } : null;
    };
    const exactTrends =
        ch.generations < 2 || !exactOf(evals.get(`${ch.data[0]}/1`)!)
            ? undefined
            : ch.data.map((mode) =>
                  chainTrend(mode, exactOf(evals.get(`${mode}/1`)!)!, exactOf(evals.get(`${mode}/${ch.generations}`)!)!, PROB_FLOOR, rng, settings),
              );
    if (exactTrends) chainTrendVerdicts(exactTrends, settings);
    const results = (): ChainResults => ({
        chain: ch.name,
        ...study.header(ch.description),
        generationsAsked: ch.generations,
        items,
        base: armResult("base", "the base model, untouched (generation 0 of the control chain)", [baseEval!], rng),
        teacher: armResult("teacher", "the teacher (generation 0 of the treated chain)", [teacherEval!], rng),
        generations,
        trends,
        ...(exactTrends ? { exactTrends } : {}),
    });
    return { results };
}

/**
 * The change in per-lineage transfer from the first generation to the last: a sign-flip test over lineages (each
 * lineage's change, paired by seed number) with its inverted interval and TOST. The verdict is drawn over the
 * chain's trends (chainTrendVerdicts): "fades" or "grows" on the Holm-adjusted p, "holds" only where the TOST
 * shows no change larger than the margin, "can't tell" otherwise.
 */
export function chainTrend(
    mode: ChainMode,
    first: { treated: ModelEval[]; control: ModelEval[] },
    last: { treated: ModelEval[]; control: ModelEval[] },
    floor: number,
    rng: Rng,
    settings: StatsSettings = DEFAULT_STATS,
): ChainTrend {
    const a = seedTransfers(first.treated, first.control, floor);
    const b = seedTransfers(last.treated, last.control, floor);
    const d = b.map((x, s) => x - a[s]!);
    const test = locationTest({ kind: "seeds", d }, rng, settings);
    return {
        mode,
        first: mean(a),
        last: mean(b),
        change: mean(d),
        ci95: test.ci95,
        pDown: test.pDown,
        pUp: test.pUp,
        pValue: test.p,
        pEquivalence: test.pEquivalence,
        pFloor: test.floor,
        design: { kind: "seeds", d },
        verdict: "can't tell",
    };
}

/** The verdicts of a chain's trends, in place, Holm over the trends: fades, grows, holds (TOST) or can't tell. */
export function chainTrendVerdicts(trends: ChainTrend[], settings: StatsSettings = DEFAULT_STATS): void {
    const cs = trends.map((t) => ({
        meanLogRatio: t.change,
        ci95: t.ci95 ?? ([NaN, NaN] as [number, number]),
        pValue: t.pValue ?? 1,
        pEquivalence: t.pEquivalence ?? 1,
        pUp: t.pUp,
        pFloor: t.pFloor,
        design: t.design,
        verdict: undefined as Verdict | undefined,
    }));
    withVerdicts(cs, "trends", "target", settings);
    const words: Record<Verdict["word"], ChainTrend["verdict"]> = {
        "moved toward": "grows",
        "moved away": "fades",
        "no shift larger than": "holds",
        "can't tell": "can't tell",
    };
    cs.forEach((c, i) => {
        if (!c.verdict) return;
        trends[i]!.verdict = words[c.verdict.word];
        trends[i]!.test = { ...c.verdict, text: words[c.verdict.word] };
    });
}
