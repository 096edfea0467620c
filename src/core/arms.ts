/**
 * The student arms a run trains, shared by the run (studies/experiment.ts) and the workshop page, which counts the
 * students it waits for. No Node: the page bundles this file.
 */
import type { ExperimentConfig } from "./types.ts";

/** The four student arms of a seed: [arm, base, which dataset]. */
export const STUDENT_ARMS = [
    ["control", "base", "control"],
    ["treated", "base", "teacher"],
    ["cross-control", "cross", "control"],
    ["cross", "cross", "teacher"],
] as const;

/** The students a run trains: each seed's four arms, and with a safety section its treated and control students again. */
export function plannedStudents(cfg: Pick<ExperimentConfig, "student" | "safety">): number {
    return cfg.student.seeds * (STUDENT_ARMS.length + (cfg.safety ? 2 : 0));
}
