/**
 * `sublab run`: every stage of a subliminal-learning experiment, each cached under a key made of the content
 * hash of its inputs and its resolved configuration, so a finished stage is skipped and a changed
 * configuration reruns only the stages it changes.
 *
 *   teacher   base model + trait (a system prompt, or a short fine-tune on trait answers)    teacher/
 *   generate  number continuations from the teacher and, paired (same prompts, same per-row seeds), from the
 *             base without the trait; datasets/<id>/raw.jsonl, resumable                     teacher/generate.ts
 *   filter    the paper's format filter (+ banned numbers), then the configured defenses       data/
 *   train     students on equal-size subsamples: control (base on base numbers), treated (base on teacher
 *             numbers), cross (the other base on teacher numbers), cross-control (the other base on base
 *             numbers), one per training seed                                                students/
 *   eval      exact P(target) and a sampled rate over the question paraphrases, for every student, both bases,
 *             the teacher, and the in-context arms (the numbers placed in the prompt as earlier turns)   evaluate/
 *   stats     arm summaries and comparisons                                                   stats/
 *   report    results.json, report.md, report.html in runs/<name>/, and a terminal table        report/
 *
 * Every stage reports through the run's event stream (runs/<name>/events.jsonl, opts.onEvent, the terminal).
 */
import { STUDENT_ARMS } from "../core/arms.ts";
import { checkInterrupted, Interrupted, type RunOptions } from "../core/context.ts";
import type { TimedStage } from "../core/timing.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { ArmName, ModelEval, Results, StudyRunResult } from "../core/results.ts";
import { datasetStage, datasetSummary } from "../data/dataset-stage.ts";
import { defendStage } from "../data/defend-stage.ts";
import { runJudgeQuality } from "../evaluate/judge.ts";
import { evalStage, inContextHistory, type EvalOf, type EvalTarget } from "../evaluate/eval-stage.ts";
import { resultsFromEvents } from "../report/from-events.ts";
import { runDesignNotes, runStatistics } from "../stats/run-statistics.ts";
import { pairedOrder, seedSlice, studentStage } from "../students/student-stage.ts";
import { checkModel, conductStudy, eachJob, type StoppedRun } from "./skeleton.ts";
import { RUN_REPORT } from "./reports.ts";
import { safetyEvals, safetyStudents } from "./safety-arms.ts";

export { Interrupted, type RunOptions };
export type { DatasetManifest };

/** A finished run: its results, folder, report files, terminal table, and the seconds per stage of this call. */
export type RunResult = StudyRunResult<Results> & { stopped?: undefined; timing: Record<TimedStage, number> };
export type { StoppedRun };

function importedEvals(cfg: ExperimentConfig): { what: EvalTarget; of: EvalOf; label: string }[] {
    return cfg.eval.imported.flatMap((imp) =>
        imp.students.map((st, k) => {
            for (const [f, field] of [
                [st.model, "model"],
                [st.lora, "lora"],
            ] as const)
                if (f) checkModel(f, `eval.imported (${imp.name}) students[${k}].${field}`);
            return {
                what: { model: st.model ?? cfg.models.base, lora: st.lora },
                of: { arm: `imported:${imp.name}`, seed: k, dataset: null },
                label: `imported ${imp.name} #${k + 1}`,
            };
        }),
    );
}

/** Runs (or resumes) every stage of an experiment and writes its report to runs/<name>/. */
export async function runExperiment(cfg: ExperimentConfig, opts: RunOptions = {}): Promise<RunResult | StoppedRun> {
    const judge = cfg.teacher.category === "misalignment" ? { judge: await runJudgeQuality(cfg.eval.judge) } : undefined;
    const out = await conductStudy({
        name: cfg.name,
        cfg,
        opts,
        report: RUN_REPORT,
        design: runDesignNotes(cfg),
        start: judge,
        prepare: async (s) => {
            const teacher = await s.teacher();
            s.c.emit({ type: "teacher", model: teacher.model, lora: teacher.lora, system: teacher.system, description: teacher.description });
            return teacher;
        },
        students: () => cfg.student.seeds * STUDENT_ARMS.length,
        // Generation, students and evaluations share one pool of workers (when there is more than one core): the
        // teacher's and the control's rows are generated side by side, then the students trained, then evaluated.
        stages: async ({ c, time }, teacher) => {
            const sources = [
                ["teacher", teacher],
                ["control", { model: cfg.models.base, lora: null, system: null }],
            ] as const;
            const formatted = await time("filter", () => eachJob(c, sources, ([role, src]) => datasetStage(c, role, src)));
            const [teacherDs, controlDs] = await time(
                "filter",
                async () => [await defendStage(c, formatted[0]!, cfg.filter.defenses), await defendStage(c, formatted[1]!, cfg.filter.defenses)] as const,
            );
            const datasets = [...new Set([...formatted, teacherDs, controlDs])].map(datasetSummary);
            c.emit({ type: "datasets", datasets });
            if (opts.stopAfter === "data") return { stopped: { stopped: "data", datasets } };

            const order = pairedOrder(c, [teacherDs, controlDs]);
            const data = { teacher: teacherDs, control: controlDs };
            const specs = Array.from({ length: cfg.student.seeds }, (_, s) =>
                STUDENT_ARMS.map(([arm, base, ds]) => ({ arm, base: cfg.models[base], ds: data[ds], s })),
            ).flat();
            checkInterrupted(c, "training");
            const students = await time("students", () =>
                eachJob(c, specs, (x) => studentStage(c, x.arm, x.base, x.ds, x.s, seedSlice(order, x.s, cfg.student.rows), x.arm, controlDs)),
            );
            const safe = await time("students", () => safetyStudents(c, students));
            if (opts.stopAfter === "train") return { stopped: { stopped: "train", datasets } };

            const evals = new Map<ArmName, ModelEval[]>();
            await time("eval", async () => {
                const todo: { what: EvalTarget; of: EvalOf; label: string }[] = [
                    { what: { model: cfg.models.base, lora: null }, of: { arm: "base", seed: null, dataset: null }, label: "base" },
                    { what: teacher, of: { arm: "teacher", seed: null, dataset: null }, label: "teacher" },
                    ...students.map((st) => ({ what: st, of: { arm: st.arm, seed: st.seed, dataset: st.dataset.id }, label: `${st.arm} seed ${st.seed + 1}` })),
                ];
                for (let s = 0; cfg.eval.inContextExamples > 0 && s < cfg.student.seeds; s++) {
                    for (const [arm, ds] of [
                        ["in-context", teacherDs],
                        ["in-context-control", controlDs],
                    ] as const) {
                        todo.push({
                            what: { model: cfg.models.base, lora: null, history: await inContextHistory(c, ds, s) },
                            of: { arm, seed: s, dataset: ds.id },
                            label: `${arm} seed ${s + 1}`,
                        });
                    }
                }
                todo.push(...(await safetyEvals(c, students, safe, teacherDs)), ...importedEvals(cfg));
                checkInterrupted(c, "evaluation");
                const scored = await eachJob(c, todo, (x) => evalStage(c, x.what, x.of, x.label));
                todo.forEach((x, k) => evals.set(x.of.arm as ArmName, [...(evals.get(x.of.arm as ArmName) ?? []), scored[k]!]));
            });
            if (opts.stopAfter === "eval") return { stopped: { stopped: "eval", datasets } };
            // The statistics count as the report stage; the results (and so every rendering of the report) are
            // what the events say.
            await time("report", () => {
                const { arms, comparisons } = runStatistics(cfg, evals);
                for (const arm of arms) c.emit({ type: "arm", arm });
                for (const comparison of comparisons) c.emit({ type: "comparison", comparison });
            });
            return { results: () => resultsFromEvents(c.events(), `run ${cfg.name}`) };
        },
    });
    return "stopped" in out && out.stopped ? (out as StoppedRun) : (out as RunResult);
}
