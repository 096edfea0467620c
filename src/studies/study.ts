/**
 * `sublab study`: a grid over the student recipe. Every cell is an experiment variant (the study's experiment with
 * the cell's settings merged in) whose treated and control students train on the same cached data, several
 * seeds each, so each cell's transfer is measured against its own control. Cells that change only the students
 * share the teacher, the generation and the filter; a cell with the experiment's own recipe reuses `sublab run`'s
 * students.
 *
 * A study file (experiments/recipe-study.json):
 *   name          lowercase letters, digits and dashes
 *   description   string, ""
 *   experiment    path of an experiment file (relative to the study file)
 *   overrides     an object merged into that experiment's JSON first, {}
 *   grid          "axes" (each axis's values with every other setting at the experiment's) | "product" (every
 *                 combination of the axes' values, merged in axis order): "axes"
 *   axes          non-empty array of { name: non-empty, distinct; values: non-empty array of
 *                   { label: non-empty, distinct within the axis; set: object merged into the experiment, {};
 *                     eval: "plain" (questions with no system prompt, as `sublab run` asks them) |
 *                           "training" (with the system prompt the students trained under, student.system): "plain" } }
 */
import path from "node:path";
import { checkInterrupted, type RunOptions } from "../core/context.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { ArmResult, ModelEval, StudyRunResult } from "../core/results.ts";
import type { DoseFit, StudyCellResult, StudyResults } from "../core/results.ts";

export type { StudyCellResult, StudyResults };
import { datasetStage } from "../data/dataset-stage.ts";
import { evalStage } from "../evaluate/eval-stage.ts";
import { studyTable, writeStudyResultsReport } from "../report/study-report.ts";
import { ARM_DESCRIPTIONS, armResult, comparisonFloor, statisticsRng } from "../stats/run-statistics.ts";
import { compareArms, withVerdicts } from "../stats/stats.ts";
import { fitDose } from "../stats/dose.ts";
import { DEFAULT_STATS } from "../stats/verdict.ts";
import { pairedOrder, seedSlice, studentStage } from "../students/student-stage.ts";
import type { Teacher } from "../teacher/teacher.ts";
import type { StageContext } from "../core/context.ts";
import { readJsonFile } from "../util/files.ts";
import { check, list, object, oneOf, opt, req, str, throwErrors } from "./checks.ts";
import { conductStudy, eachJob, studyDesign, withConfig, type Study } from "./skeleton.ts";
import { STUDY_REPORT } from "./reports.ts";
import { parseExperiment } from "./experiment-file.ts";
import { isJsonObject, mergeJson } from "./sweep.ts";

export type EvalContext = "plain" | "training";

export interface StudyValue {
    label: string;
    set: Record<string, unknown>;
    eval: EvalContext;
}

export interface StudyAxis {
    name: string;
    values: StudyValue[];
}

export interface StudyCell {
    /** The cell's label on each axis it sets (every axis in a product grid, one in an axes grid). */
    labels: Record<string, string>;
    experiment: ExperimentConfig;
    eval: EvalContext;
}

export interface StudyConfig {
    name: string;
    description: string;
    experimentFile: string;
    grid: "axes" | "product";
    axes: StudyAxis[];
    cells: StudyCell[];
}

// ---- the study file ----

const valueShape = object({
    label: req(str("a non-empty string", (s) => s.trim() !== "")),
    set: opt(check<Record<string, unknown>>("an object", isJsonObject), {}),
    eval: opt(oneOf(["plain", "training"] as const), "plain"),
});

const distinct = (key: string, what: string) => (xs: { [k: string]: unknown }[] | undefined, p: string, errors: string[]) =>
    xs?.forEach((x, i) => {
        if (xs.findIndex((y) => y[key] === x[key]) < i) errors.push(`${p}[${i}].${key}: "${String(x[key])}" names an earlier ${what} too`);
    });

const axisShape = object(
    {
        name: req(str("a non-empty string", (s) => s.trim() !== "")),
        values: req(list(valueShape, { nonEmpty: true })),
    },
    (a, p, errors) => distinct("label", "value")(a.values, `${p}.values`, errors),
);

const studyFile = object(
    {
        name: req(str("lowercase letters, digits and dashes", (s) => /^[a-z0-9][a-z0-9-]*$/.test(s))),
        description: opt(str(), ""),
        experiment: req(str("the path of an experiment file", (s) => s !== "")),
        overrides: opt(check<Record<string, unknown>>("an object", isJsonObject), {}),
        grid: opt(oneOf(["axes", "product"] as const), "axes"),
        axes: req(list(axisShape, { nonEmpty: true })),
    },
    (o, _p, errors) => distinct("name", "axis")(o.axes, "axes", errors),
);

/** The cells of a grid: one per axis value ("axes"), or one per combination ("product"). */
function gridCells(grid: "axes" | "product", axes: StudyAxis[]): { labels: Record<string, string>; sets: Record<string, unknown>[]; eval: EvalContext }[] {
    if (grid === "axes") return axes.flatMap((a) => a.values.map((v) => ({ labels: { [a.name]: v.label }, sets: [v.set], eval: v.eval })));
    let cells: { labels: Record<string, string>; sets: Record<string, unknown>[]; eval: EvalContext }[] = [{ labels: {}, sets: [], eval: "plain" }];
    for (const a of axes)
        cells = cells.flatMap((c) =>
            a.values.map((v) => ({ labels: { ...c.labels, [a.name]: v.label }, sets: [...c.sets, v.set], eval: v.eval === "training" ? "training" : c.eval })),
        );
    return cells;
}

/** Checks a parsed study file (every problem at once, each naming its JSON path) and builds every cell's experiment. */
export function parseStudy(json: unknown, file: string): StudyConfig {
    const errors: string[] = [];
    const st = studyFile.parse(json, "", errors);
    let cells: StudyCell[] = [];
    if (st && errors.length === 0) {
        const expPath = path.resolve(path.dirname(file), st.experiment);
        let base: unknown;
        try {
            base = mergeJson(readJsonFile(expPath), st.overrides);
        } catch (e) {
            errors.push(`experiment: ${(e as Error).message}`);
        }
        if (base !== undefined) {
            cells = gridCells(st.grid, st.axes).flatMap((g) => {
                const where = Object.entries(g.labels)
                    .map(([k, v]) => `${k} "${v}"`)
                    .join(", ");
                try {
                    const experiment = parseExperiment(
                        g.sets.reduce<unknown>((acc, s) => mergeJson(acc, s), base),
                        `${expPath} with the study's ${where}`,
                    );
                    if (g.eval === "training" && !experiment.student.system)
                        errors.push(`${where}: eval "training" asks the questions under student.system, which this cell does not set`);
                    return [{ labels: g.labels, experiment, eval: g.eval }];
                } catch (e) {
                    errors.push((e as Error).message);
                    return [];
                }
            });
        }
    }
    throwErrors(errors, file, "the study", false);
    return { name: st!.name, description: st!.description, experimentFile: st!.experiment, grid: st!.grid, axes: st!.axes, cells };
}

export function loadStudy(file: string): StudyConfig {
    return parseStudy(readJsonFile(file), file);
}

// ---- running it ----

const recipeText = (cfg: ExperimentConfig, evalContext: EvalContext): string => {
    const s = cfg.student;
    return [
        s.method === "lora" ? `LoRA r${s.rank} a${s.alpha}` : "full",
        `lr ${s.lr}`,
        s.optimizer === "sgd" ? "SGD" : "AdamW",
        `${s.labels} labels`,
        `${s.rows} rows x ${s.epochs} ep`,
        ...(s.system ? [`trained under a system prompt, asked ${evalContext === "training" ? "under it" : "without it"}`] : []),
    ].join(", ");
};

/** Runs (or resumes) a study and writes its report to runs/<name>/. */
export async function runStudy(sd: StudyConfig, opts: RunOptions = {}): Promise<StudyRunResult<StudyResults>> {
    const first = sd.cells[0]!.experiment;
    return (await conductStudy({
        name: sd.name,
        cfg: first,
        opts,
        report: STUDY_REPORT,
        design: studyDesign(first, [{ name: "cells (treated vs control per cell)", kind: "students", na: first.student.seeds, size: sd.cells.length }]),
        prepare: (study) => studyData(sd, study),
        students: (cells) => cells.reduce((n, x) => n + 2 * x.cell.experiment.student.seeds, 0),
        stages: (study, cells) => studyStages(sd, study, cells),
    })) as StudyRunResult<StudyResults>;
}

type CellData = { cell: StudyCell; cc: StageContext; teacher: Teacher; data: { teacher: DatasetManifest; control: DatasetManifest }; order: number[] | null };

/** Each cell's data (teacher, generation, filter: shared by cells that change only the students) and pairing. */
async function studyData(sd: StudyConfig, study: Study): Promise<CellData[]> {
    const { c } = study;
    const cells: CellData[] = [];
    for (const cell of sd.cells) {
        checkInterrupted(c, "the data");
        const cc = withConfig(c, cell.experiment);
        const teacher = await study.teacher(cc);
        const data = await study.time("filter", async () => ({
            teacher: await datasetStage(cc, "teacher", teacher),
            control: await datasetStage(cc, "control", { model: cell.experiment.models.base, lora: null, system: null }),
        }));
        cells.push({ cell, cc, teacher, data, order: pairedOrder(cc, [data.teacher, data.control]) });
    }
    return cells;
}

/**
 * A dose-response, when the study has one axis and every cell sets student.mix: every seed's treated and control
 * students' mean log P(target) per dose (the transfer's own design), fitted by src/stats/dose.ts.
 */
function doseOf(sd: StudyConfig, cells: StudyResults["cells"]): { dose?: DoseFit } {
    if (sd.axes.length !== 1 || cells.length < 3 || cells.some((c) => c.dose === undefined)) return {};
    const points = cells.map((c) => {
        const d = c.transfer.design;
        if (d?.kind !== "students") throw new Error(`${c.transfer.name}: a dose-response needs each student's value (an unpaired design)`);
        return { f: c.dose!, treated: d.a, control: d.b };
    });
    return { dose: fitDose(points, { seed: sd.cells[0]!.experiment.seed }) };
}

/** A cell's mean training seconds per student, when every student recorded its time. */
function studentSeconds(refs: { seconds?: number }[]): { studentSeconds?: number } {
    const s = refs.map((r) => r.seconds);
    return s.length && s.every((x) => typeof x === "number") ? { studentSeconds: s.reduce((a, b) => a! + b!, 0)! / s.length } : {};
}

/** The cells' students, evaluations and verdicts, in the study's worker pool. */
async function studyStages(sd: StudyConfig, study: Study, cells: CellData[]): Promise<{ results: () => StudyResults }> {
    const first = sd.cells[0]!.experiment;
    const { c, items } = study;
    const t = items.indexOf(first.teacher.target);
    const specs = cells.flatMap((x) =>
        Array.from({ length: x.cell.experiment.student.seeds }, (_, s) => (["control", "treated"] as const).map((which) => ({ x, s, which }))).flat(),
    );
    const label = (cell: StudyCell) => Object.values(cell.labels).join(" / ");
    const evals = cells.map(() => ({ treated: [] as ModelEval[], control: [] as ModelEval[] }));
    checkInterrupted(c, "training");
    const refs = await study.time("students", () =>
        eachJob(c, specs, ({ x, s, which }) => {
            const cfg = x.cell.experiment;
            return studentStage(
                x.cc,
                which,
                cfg.models.base,
                which === "control" ? x.data.control : x.data.teacher,
                s,
                seedSlice(x.order, s, cfg.student.rows),
                `${label(x.cell)}: ${which}`,
                x.data.control,
            );
        }),
    );
    checkInterrupted(c, "evaluation");
    const scored = await study.time("eval", () =>
        eachJob(c, [...refs.keys()], (k) => {
            const { x } = specs[k]!;
            const st = refs[k]!;
            const system = x.cell.eval === "training" ? (x.cell.experiment.student.system ?? null) : null;
            return evalStage(
                x.cc,
                { ...st, system },
                { arm: st.arm, seed: st.seed, dataset: st.dataset.id },
                `${label(x.cell)}: ${st.arm} seed ${st.seed + 1}`,
            );
        }),
    );
    const baseEval = await study.evaluateBase();
    const teacherEval = await study.evaluateTeacher(cells[0]!.teacher, withConfig(c, first));
    specs.forEach((sp, k) => evals[cells.indexOf(sp.x)]![sp.which].push(scored[k]!));
    const rng = statisticsRng(first);
    const summarize = (arm: keyof typeof ARM_DESCRIPTIONS, es: ModelEval[], description = ARM_DESCRIPTIONS[arm]): ArmResult =>
        armResult(arm, description, es, rng);
    // The same draws of the statistics' generator as always: the base's and the teacher's intervals, then the cells'.
    const [base, teacher] = [summarize("base", [baseEval]), summarize("teacher", [teacherEval])];
    const cellResults: StudyResults["cells"] = cells.map((x, k) => ({
        labels: x.cell.labels,
        recipe: recipeText(x.cell.experiment, x.cell.eval),
        treated: summarize("treated", evals[k]!.treated),
        control: summarize("control", evals[k]!.control),
        transfer: {
            name: `${label(x.cell)}: treated vs control`,
            a: "treated",
            b: "control",
            ...compareArms(evals[k]!.treated, evals[k]!.control, t, rng, comparisonFloor(x.cell.experiment), first.stats),
        },
        ...(x.cell.experiment.student.mix !== undefined ? { dose: x.cell.experiment.student.mix } : {}),
        ...studentSeconds(refs.filter((_, j) => specs[j]!.x === x)),
    }));
    withVerdicts(
        cellResults.map((x) => x.transfer),
        "cells",
        first.teacher.target,
        first.stats ?? DEFAULT_STATS,
    );
    for (const cell of cellResults) c.emit({ type: "comparison", comparison: cell.transfer });
    const results = (): StudyResults => ({
        study: sd.name,
        ...study.header(sd.description),
        grid: sd.grid,
        axes: sd.axes.map((a) => ({ name: a.name, labels: a.values.map((v) => v.label) })),
        items,
        base,
        teacher,
        cells: cellResults,
        ...doseOf(sd, cellResults),
    });
    return { results };
}
