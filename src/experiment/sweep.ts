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
 *   arms          non-empty array of { name: non-empty, distinct; defenses: filter specs (src/filter/stages.ts) }
 */
import fs from "node:fs";
import path from "node:path";
import { itemsOf } from "./evaluate.ts";
import { parseStageSpec } from "../filter/stages.ts";
import { readJsonFile } from "../util/files.ts";
import { subRng } from "../util/rng.ts";
import {
    ARM_DESCRIPTIONS,
    datasetStage,
    datasetSummary,
    defendStage,
    evalStage,
    Interrupted,
    makeContext,
    pairedOrder,
    studentStage,
    SUBLAB_VERSION,
    teacherStage,
    type DatasetManifest,
    type RunOptions,
    type StudentRef,
} from "./run.ts";
import { parseExperiment } from "./schema.ts";
import { compareArms, summarizeArm, transferReduction } from "./stats.ts";
import { writeSweepReport, sweepTable } from "./sweep-report.ts";
import type { ArmResult, ComparisonResult, ExperimentConfig, ModelEval, Results } from "./types.ts";

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

export interface SweepArmResult {
    name: string;
    /** The experiment's own filter.defenses, then the arm's. */
    defenses: string[];
    datasets: { teacher: Results["datasets"][number] & { stages: NonNullable<DatasetManifest["stages"]> }; control: Results["datasets"][number] & { stages: NonNullable<DatasetManifest["stages"]> } };
    /** Share of the teacher's generated rows the arm trains from (format filter and defenses). */
    keptShare: number;
    treated: ArmResult;
    control: ArmResult;
    /** treated vs control of this arm. */
    transfer: ComparisonResult;
    /** Against the reference arm (the first arm with no defenses of its own), when there is one and this is not it. */
    reduction: { reference: string; left: number; pValue: number; pFloor: number; permutations: number } | null;
}

export interface SweepResults {
    sweep: string;
    description: string;
    sublabVersion: string;
    startedAt: string;
    seconds: number;
    experiment: ExperimentConfig;
    target: string;
    items: string[];
    base: ArmResult;
    teacher: ArmResult;
    arms: SweepArmResult[];
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

/** Checks a parsed sweep file (every problem at once, each naming its JSON path) and loads its experiment. */
export function parseSweep(json: unknown, file: string): SweepConfig {
    const errors: string[] = [];
    const known = ["name", "description", "experiment", "overrides", "arms"];
    if (!isObject(json)) throw new Error(`${file}: expected an object, got ${Array.isArray(json) ? "an array" : typeof json}`);
    for (const k of Object.keys(json)) if (!known.includes(k)) errors.push(`${k}: unknown key (known: ${known.join(", ")})`);
    const name = json.name;
    if (typeof name !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(name)) errors.push(`name: expected lowercase letters, digits and dashes, got ${JSON.stringify(name)}`);
    const description = json.description ?? "";
    if (typeof description !== "string") errors.push(`description: expected a string`);
    const experimentFile = json.experiment;
    if (typeof experimentFile !== "string" || experimentFile === "") errors.push(`experiment: expected the path of an experiment file, got ${JSON.stringify(experimentFile)}`);
    const overrides = json.overrides ?? {};
    if (!isObject(overrides)) errors.push(`overrides: expected an object`);
    const arms: SweepArmConfig[] = [];
    if (!Array.isArray(json.arms) || json.arms.length === 0) errors.push(`arms: expected a non-empty array of { name, defenses }`);
    else {
        json.arms.forEach((a: unknown, i: number) => {
            const at = `arms[${i}]`;
            if (!isObject(a)) return errors.push(`${at}: expected an object { name, defenses }`);
            for (const k of Object.keys(a)) if (k !== "name" && k !== "defenses") errors.push(`${at}.${k}: unknown key (known: name, defenses)`);
            if (typeof a.name !== "string" || a.name.trim() === "") errors.push(`${at}.name: expected a non-empty string`);
            else if (arms.some((x) => x.name === a.name)) errors.push(`${at}.name: "${a.name}" names an earlier arm too`);
            const defenses: string[] = [];
            if (!Array.isArray(a.defenses)) errors.push(`${at}.defenses: expected an array of filter specs (may be empty)`);
            else {
                a.defenses.forEach((d: unknown, j: number) => {
                    if (typeof d !== "string") return errors.push(`${at}.defenses[${j}]: expected a filter spec string`);
                    try {
                        defenses.push(parseStageSpec(d).text);
                    } catch (e) {
                        errors.push(`${at}.defenses[${j}]: ${(e as Error).message}`);
                    }
                });
            }
            arms.push({ name: String(a.name), defenses });
        });
    }
    let experiment: ExperimentConfig | undefined;
    if (typeof experimentFile === "string" && experimentFile !== "" && isObject(overrides)) {
        const expPath = path.resolve(path.dirname(file), experimentFile);
        if (!fs.existsSync(expPath)) errors.push(`experiment: no such file ${expPath}`);
        else {
            try {
                experiment = parseExperiment(mergeJson(readJsonFile(expPath), overrides), `${expPath} with the overrides of ${file}`);
            } catch (e) {
                errors.push((e as Error).message);
            }
        }
    }
    if (errors.length === 1) throw new Error(`${file}: ${errors[0]}`);
    if (errors.length > 1) throw new Error([`${errors.length} errors in ${file}:`, ...errors.map((e) => `  ${e}`)].join("\n"));
    return { name: name as string, description: description as string, experimentFile: experimentFile as string, experiment: experiment!, arms };
}

export function loadSweep(file: string): SweepConfig {
    return parseSweep(readJsonFile(file), file);
}

// ---- running it ----

export interface SweepRunResult {
    results: SweepResults;
    dir: string;
    files: { json: string; md: string; html: string };
    table: string;
}

/** Runs (or resumes) a sweep and writes its report to runs/<name>/. */
export async function runSweep(sw: SweepConfig, opts: RunOptions = {}): Promise<SweepRunResult> {
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    const cfg = sw.experiment;
    const c = makeContext(cfg, opts);
    const check = (stage: string) => {
        if (opts.signal?.aborted) throw new Interrupted(stage);
    };
    const teacher = await teacherStage(c);
    check("the teacher");
    const formatted = { teacher: await datasetStage(c, "teacher", teacher), control: await datasetStage(c, "control", { model: cfg.models.base, lora: null, system: null }) };

    // Every arm's data first (cheap next to training), so that an arm with too few rows fails before hours of training.
    const armData: { arm: SweepArmConfig; defenses: string[]; teacher: DatasetManifest; control: DatasetManifest; order: number[] | null }[] = [];
    for (const arm of sw.arms) {
        check("the defenses");
        const defenses = [...cfg.filter.defenses, ...arm.defenses];
        c.log(`arm "${arm.name}"${defenses.length ? `: ${defenses.join(" -> ")}` : ": no defenses"}`);
        const t = await defendStage(c, formatted.teacher, defenses);
        const k = await defendStage(c, formatted.control, defenses);
        let order: number[] | null;
        try {
            order = pairedOrder(c, [t, k]);
        } catch (e) {
            throw new Error(`arm "${arm.name}": ${(e as Error).message}`);
        }
        armData.push({ arm, defenses, teacher: t, control: k, order });
    }

    const students = new Map<string, { treated: StudentRef[]; control: StudentRef[] }>();
    for (const a of armData) {
        const refs = { treated: [] as StudentRef[], control: [] as StudentRef[] };
        for (let s = 0; s < cfg.student.seeds; s++) {
            const n = cfg.student.rows;
            const indices = a.order && a.order.slice(s * n, (s + 1) * n);
            check("training");
            refs.control.push(await studentStage(c, "control", cfg.models.base, a.control, s, indices, `${a.arm.name}: control`));
            check("training");
            refs.treated.push(await studentStage(c, "treated", cfg.models.base, a.teacher, s, indices, `${a.arm.name}: treated`));
        }
        students.set(a.arm.name, refs);
    }

    const evalOf = async (st: StudentRef, armName: string): Promise<ModelEval> => ({ seed: st.seed, dataset: st.dataset.id, ...(await evalStage(c, st, `${armName}: ${st.arm} seed ${st.seed + 1}`)) });
    const baseEval: ModelEval = { seed: null, dataset: null, ...(await evalStage(c, { model: cfg.models.base, lora: null }, "base")) };
    const teacherEval: ModelEval = { seed: null, dataset: null, ...(await evalStage(c, teacher, "teacher")) };
    const evals = new Map<string, { treated: ModelEval[]; control: ModelEval[] }>();
    for (const a of armData) {
        const refs = students.get(a.arm.name)!;
        const e = { treated: [] as ModelEval[], control: [] as ModelEval[] };
        for (let s = 0; s < refs.treated.length; s++) {
            check("evaluation");
            e.control.push(await evalOf(refs.control[s]!, a.arm.name));
            e.treated.push(await evalOf(refs.treated[s]!, a.arm.name));
        }
        evals.set(a.arm.name, e);
    }

    const rng = subRng(cfg.seed, "statistics");
    const items = itemsOf(cfg.teacher.category);
    const t = items.indexOf(cfg.teacher.target);
    const summarize = (arm: keyof typeof ARM_DESCRIPTIONS, es: ModelEval[], description = ARM_DESCRIPTIONS[arm]): ArmResult => ({ arm, description, evals: es, ...summarizeArm(es, rng) });
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
            transfer: { name: `${a.arm.name}: treated vs control`, a: "treated", b: "control", ...compareArms(e.treated, e.control, t, rng) },
            reduction: reference && reference !== a.arm.name ? { reference, ...transferReduction(evals.get(reference)!, e, rng) } : null,
        };
    });
    const results: SweepResults = {
        sweep: sw.name,
        description: sw.description,
        sublabVersion: SUBLAB_VERSION,
        startedAt,
        seconds: (performance.now() - t0) / 1000,
        experiment: cfg,
        target: cfg.teacher.target,
        items,
        base: summarize("base", [baseEval]),
        teacher: summarize("teacher", [teacherEval]),
        arms,
    };
    const dir = path.join(c.root, "runs", sw.name);
    const files = writeSweepReport(results, dir);
    return { results, dir, files, table: sweepTable(results) };
}
