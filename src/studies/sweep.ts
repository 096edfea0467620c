/**
 * `sublab sweep`: one teacher, one base, and one pair of students per filter or defense arm (treated: trained
 * on the teacher's data after the arm's stages; control: on the base's data after the same stages), several
 * seeds each, so that every arm's transfer is measured against its own control and set beside the share of
 * the data it kept. The stages shared with `sublab run` (teacher, generation, format filter, students, evals)
 * are cached the same way, so arms share the generation and an arm with no defenses reuses an experiment's
 * students.
 *
 * A sweep file (experiments/filter-sweep.json):
 *   name          lowercase letters, digits and dashes
 *   description   string, ""
 *   experiment    path of an experiment file (relative to the sweep file): teacher, generation, students, eval
 *   overrides     an object merged into that experiment's JSON before it is checked (objects merge key by key), {}
 *   arms          non-empty array of { name: non-empty, distinct; defenses: filter specs (src/data/filter-stages.ts) }
 */
import fs from "node:fs";
import path from "node:path";
import { readJsonFile } from "../util/files.ts";
import { subRng } from "../util/rng.ts";
import { checkInterrupted, type RunOptions } from "../core/context.ts";
import { datasetStage, datasetSummary } from "../data/dataset-stage.ts";
import { defendStage } from "../data/defend-stage.ts";
import { evalStage } from "../evaluate/eval-stage.ts";
import { ARM_DESCRIPTIONS, armResult, comparisonFloor, statisticsRng } from "../stats/run-statistics.ts";
import { pairedOrder, seedSlice, studentStage } from "../students/student-stage.ts";
import { conductStudy, eachJob, studyDesign } from "./skeleton.ts";
import { SWEEP_REPORT } from "./reports.ts";
import { check, list, object, opt, req, stageSpec, str, throwErrors } from "./checks.ts";
import { parseExperiment } from "./experiment-file.ts";
import { compareArms, reductionVerdicts, transferReduction, withVerdicts } from "../stats/stats.ts";
import { DEFAULT_STATS } from "../stats/verdict.ts";
import { writeSweepReport, sweepTable } from "../report/sweep-report.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { ArmResult, ModelEval, StudyRunResult, SweepArmResult, SweepResults } from "../core/results.ts";

export type { SweepArmResult, SweepResults };

export interface SweepArmConfig {
    name: string;
    defenses: string[];
}

export interface SweepConfig {
    name: string;
    description: string;
    /** The experiment file the sweep is built on (as written in the sweep file, resolved against it). */
    experimentFile: string;
    /** That experiment with the overrides applied, checked like any experiment. */
    experiment: ExperimentConfig;
    arms: SweepArmConfig[];
}

// ---- the sweep file ----

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** `over` merged into `base`: objects key by key, anything else replaced. */
export function mergeJson(base: unknown, over: unknown): unknown {
    if (!isObject(base) || !isObject(over)) return over;
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeJson(base[k], v) : v;
    return out;
}

const armShape = object({
    name: req(str("a non-empty string", (s) => s.trim() !== "")),
    defenses: req(list(stageSpec)),
});

const sweepFile = object(
    {
        name: req(str("lowercase letters, digits and dashes", (s) => /^[a-z0-9][a-z0-9-]*$/.test(s))),
        description: opt(str(), ""),
        experiment: req(str("the path of an experiment file", (s) => s !== "")),
        overrides: opt(check<Record<string, unknown>>("an object", isObject), {}),
        arms: req(list(armShape, { nonEmpty: true })),
    },
    (o, _path, errors) => {
        o.arms?.forEach((a, i) => {
            if (o.arms!.findIndex((b) => b.name === a.name) < i) errors.push(`arms[${i}].name: "${a.name}" names an earlier arm too`);
        });
    },
);

/**
 * The experiment a study file (a sweep, a chain, a population) is built on: its `experiment` path, resolved
 * against the file, with its `overrides` merged in, checked like any experiment (problems go to `errors`).
 */
export function experimentOf(json: unknown, file: string, errors: string[]): ExperimentConfig | undefined {
    const raw = isObject(json) ? json : {};
    if (typeof raw.experiment !== "string" || raw.experiment === "" || !isObject(raw.overrides ?? {})) return undefined;
    const expPath = path.resolve(path.dirname(file), raw.experiment);
    if (!fs.existsSync(expPath)) return void errors.push(`experiment: no such file ${expPath}`);
    try {
        return parseExperiment(mergeJson(readJsonFile(expPath), raw.overrides ?? {}), `${expPath} with the overrides of ${file}`);
    } catch (e) {
        errors.push((e as Error).message);
    }
}

export const isJsonObject = isObject;

/** Checks a parsed sweep file (every problem at once, each naming its JSON path) and loads its experiment. */
export function parseSweep(json: unknown, file: string): SweepConfig {
    const errors: string[] = [];
    const sweep = sweepFile.parse(json, "", errors);
    const experiment = experimentOf(json, file, errors);
    // One line per problem, unprefixed: an experiment's own errors already name the experiment file.
    throwErrors(errors, file, "the sweep", false);
    const { name, description, experiment: experimentFile, arms } = sweep!;
    return { name, description, experimentFile, experiment: experiment!, arms };
}

export function loadSweep(file: string): SweepConfig {
    return parseSweep(readJsonFile(file), file);
}

// ---- running it ----

export type SweepRunResult = StudyRunResult<SweepResults>;

interface ArmData {
    arm: SweepArmConfig;
    defenses: string[];
    teacher: DatasetManifest;
    control: DatasetManifest;
    order: number[] | null;
}

/** Runs (or resumes) a sweep and writes its report to runs/<name>/. */
export async function runSweep(sw: SweepConfig, opts: RunOptions = {}): Promise<SweepRunResult> {
    const cfg = sw.experiment;
    const n = cfg.student.seeds;
    return (await conductStudy({
        name: sw.name,
        cfg,
        opts,
        report: SWEEP_REPORT,
        defenses: sw.arms.flatMap((a) => [...cfg.filter.defenses, ...a.defenses]),
        design: studyDesign(cfg, [
            { name: "defenses (treated vs control per arm)", kind: "students", na: n, size: sw.arms.length },
            { name: "reductions (each defense against no defense)", kind: "students", na: n, size: Math.max(0, sw.arms.length - 1) },
        ]),
        prepare: async (s) => {
            const { c } = s;
            const teacher = await s.teacher();
            const formatted = await s.time("filter", async () => ({
                teacher: await datasetStage(c, "teacher", teacher),
                control: await datasetStage(c, "control", { model: cfg.models.base, lora: null, system: null }),
            }));
            // Every arm's data first (cheap next to training), so that an arm with too few rows fails before hours of training.
            const armData: ArmData[] = [];
            for (const arm of sw.arms) {
                checkInterrupted(c, "the defenses");
                const defenses = [...cfg.filter.defenses, ...arm.defenses];
                c.log(`arm "${arm.name}"${defenses.length ? `: ${defenses.join(" -> ")}` : ": no defenses"}`);
                const t = await s.time("filter", () => defendStage(c, formatted.teacher, defenses));
                const k = await s.time("filter", () => defendStage(c, formatted.control, defenses));
                let order: number[] | null;
                try {
                    order = pairedOrder(c, [t, k]);
                } catch (e) {
                    throw new Error(`arm "${arm.name}": ${(e as Error).message}`);
                }
                armData.push({ arm, defenses, teacher: t, control: k, order });
            }
            const specs = armData.flatMap((a) =>
                Array.from({ length: cfg.student.seeds }, (_, s) => (["control", "treated"] as const).map((which) => ({ a, s, which }))).flat(),
            );
            checkInterrupted(c, "training");
            return { teacher, armData, specs };
        },
        students: (p) => p.specs.length,
        // Students and evaluations share one pool of workers (when there is more than one core).
        stages: async (study, { teacher, armData, specs }) => {
            const { c, items } = study;
            const evals = new Map<string, { treated: ModelEval[]; control: ModelEval[] }>(armData.map((a) => [a.arm.name, { treated: [], control: [] }]));
            const refs = await study.time("students", () =>
                eachJob(c, specs, ({ a, s, which }) =>
                    studentStage(
                        c,
                        which,
                        cfg.models.base,
                        which === "control" ? a.control : a.teacher,
                        s,
                        seedSlice(a.order, s, cfg.student.rows),
                        `${a.arm.name}: ${which}`,
                        a.control,
                    ),
                ),
            );
            checkInterrupted(c, "evaluation");
            const scored = await study.time("eval", () =>
                eachJob(c, [-1, ...refs.keys()], (k) => {
                    if (k < 0) return study.evaluateBase();
                    const st = refs[k]!;
                    return evalStage(c, st, { arm: st.arm, seed: st.seed, dataset: st.dataset.id }, `${specs[k]!.a.arm.name}: ${st.arm} seed ${st.seed + 1}`);
                }),
            );
            const baseEval = scored[0]!;
            const teacherEval = await study.evaluateTeacher(teacher);
            specs.forEach((sp, k) => evals.get(sp.a.arm.name)![sp.which].push(scored[k + 1]!));
            const rng = statisticsRng(cfg);
            const t = items.indexOf(cfg.teacher.target);
            const summarize = (arm: keyof typeof ARM_DESCRIPTIONS, es: ModelEval[], description = ARM_DESCRIPTIONS[arm]): ArmResult =>
                armResult(arm, description, es, rng);
            const reference = armData.find((a) => a.arm.defenses.length === 0)?.arm.name ?? null;
            const arms: SweepArmResult[] = armData.map((a) => {
                const e = evals.get(a.arm.name)!;
                const withStages = (d: DatasetManifest) => ({ ...datasetSummary(d), stages: d.stages ?? [] });
                return {
                    name: a.arm.name,
                    defenses: a.defenses,
                    datasets: { teacher: withStages(a.teacher), control: withStages(a.control) },
                    keptShare: a.teacher.rows.kept / Math.max(1, a.teacher.rows.raw),
                    treated: summarize("treated", e.treated, `${ARM_DESCRIPTIONS.treated}, after: ${a.defenses.join(" -> ") || "the format filter only"}`),
                    control: summarize("control", e.control, `${ARM_DESCRIPTIONS.control}, after the same`),
                    transfer: {
                        name: `${a.arm.name}: treated vs control`,
                        a: "treated",
                        b: "control",
                        ...compareArms(e.treated, e.control, t, rng, comparisonFloor(cfg), cfg.stats),
                    },
                    reduction: reference && reference !== a.arm.name ? { reference, ...transferReduction(evals.get(reference)!, e, rng, cfg.stats) } : null,
                };
            });
            const settings = cfg.stats ?? DEFAULT_STATS;
            withVerdicts(
                arms.map((a) => a.transfer),
                "defenses",
                cfg.teacher.target,
                settings,
            );
            reductionVerdicts(
                arms.flatMap((a) => (a.reduction ? [a.reduction] : [])),
                settings,
            );
            const results = (): SweepResults => ({
                sweep: sw.name,
                ...study.header(sw.description),
                items,
                base: summarize("base", [baseEval]),
                teacher: summarize("teacher", [teacherEval]),
                arms,
            });
            for (const a of arms) c.emit({ type: "comparison", comparison: a.transfer });
            return { results };
        },
    })) as SweepRunResult;
}
