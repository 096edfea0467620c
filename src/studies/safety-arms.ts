/**
 * The safety arms of a run (the `safety` section): every treated and control student fine-tuned further on
 * aligned answers (students/safety-stage.ts), and the evaluations they add: treated+safety and control+safety, and,
 * with triggers, all four arms again after number-sequence turns from the teacher's data (|numbers) and under
 * the teacher's system prompt (|system).
 */
import type { StageContext } from "../core/context.ts";
import type { DatasetManifest } from "../core/types.ts";
import type { ArmName, Trigger } from "../core/results.ts";
import { inContextHistory, type EvalOf, type EvalTarget } from "../evaluate/eval-stage.ts";
import { safetyStage } from "../students/safety-stage.ts";
import type { StudentRef } from "../students/student-stage.ts";
import { traitSystemPrompt } from "../teacher/teacher.ts";
import { eachJob } from "./skeleton.ts";

export interface EvalTodo {
    what: EvalTarget;
    of: EvalOf;
    label: string;
}

/** The safety stage's students (none without a safety section). */
export async function safetyStudents(c: StageContext, students: readonly StudentRef[]): Promise<StudentRef[]> {
    if (!c.cfg.safety) return [];
    return eachJob(
        c,
        students.filter((st) => st.arm === "treated" || st.arm === "control"),
        (st) => safetyStage(c, st),
    );
}

/** The evaluations the safety arms add: their own, and every treated, control and safety student under each trigger. */
export async function safetyEvals(
    c: StageContext,
    students: readonly StudentRef[],
    safe: readonly StudentRef[],
    teacherData: DatasetManifest,
): Promise<EvalTodo[]> {
    const plain = (st: StudentRef): EvalTodo => ({
        what: st,
        of: { arm: st.arm, seed: st.seed, dataset: st.dataset.id },
        label: `${st.arm} seed ${st.seed + 1}`,
    });
    const todo = safe.map(plain);
    if (!c.cfg.safety?.triggers) return todo;
    const system = traitSystemPrompt(c.cfg);
    for (const trigger of ["numbers", "system"] as Trigger[]) {
        for (const st of [...students.filter((x) => x.arm === "treated" || x.arm === "control"), ...safe]) {
            const history = trigger === "numbers" ? await inContextHistory(c, teacherData, st.seed) : undefined;
            const arm = `${st.arm}|${trigger}` as ArmName;
            todo.push({
                what: { model: st.model, lora: st.lora, ...(history ? { history } : { system }) },
                of: { arm, seed: st.seed, dataset: st.dataset.id },
                label: `${arm} seed ${st.seed + 1}`,
            });
        }
    }
    return todo;
}
