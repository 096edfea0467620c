/**
 * A run's statistics drawn again from the evaluations its event stream holds, with the current verdict rules:
 * the arm and comparison events are replaced, everything else (the models, the rows, the evaluations) is kept as
 * the run recorded it. For a run made before the lab's verdicts (or its recording), `sublab restat EVENTS`; the
 * result is what `sublab run` would print today from the same evaluations (arms and seeds in the run's order).
 */
import fs from "node:fs";
import type { Stamped } from "../core/events.ts";
import { parseEventLines } from "../core/events.ts";
import type { ArmName, ModelEval } from "../core/results.ts";
import { DEFAULT_STATS } from "../core/verdicts.ts";
import { runDesignNotes, runStatistics } from "../stats/run-statistics.ts";
import { writeJsonlAtomic } from "../util/files.ts";

/** The order `sublab run` puts arms in (then any other arm, in the order its evaluations came). */
const RUN_ORDER = ["base", "teacher", "control", "treated", "cross-control", "cross", "in-context", "in-context-control"];

/** The last run of an event stream with its arms and comparisons drawn again; earlier runs' events are kept as they are. */
export function restatEvents(events: readonly Stamped[]): Stamped[] {
    const start = events.map((e) => e.type).lastIndexOf("run-start");
    const head = events[start];
    if (!head || head.type !== "run-start") throw new Error("restat: no run-start event");
    const cfg = { ...head.config, stats: head.config.stats ?? DEFAULT_STATS };
    const run = events.slice(start);
    const evals = run.flatMap((e) => (e.type === "eval" ? [{ arm: e.arm as ArmName, eval: e.eval }] : []));
    if (!run.some((e) => e.type === "comparison")) throw new Error("restat: the run has no comparisons (it did not finish its statistics)");
    const rank = (arm: string) => (RUN_ORDER.includes(arm) ? RUN_ORDER.indexOf(arm) : RUN_ORDER.length + evals.findIndex((x) => x.arm === arm));
    const byArm = new Map<ArmName, ModelEval[]>();
    for (const x of [...evals].sort((p, q) => rank(p.arm) - rank(q.arm) || (p.eval.seed ?? -1) - (q.eval.seed ?? -1)))
        byArm.set(x.arm, [...(byArm.get(x.arm) ?? []), x.eval]);
    const { arms, comparisons } = runStatistics(cfg, byArm);
    const at = run.find((e) => e.type === "arm" || e.type === "comparison")!.t;
    const fresh: Stamped[] = [
        ...arms.map((arm) => ({ type: "arm" as const, arm, t: at })),
        ...comparisons.map((comparison) => ({ type: "comparison" as const, comparison, t: at })),
    ];
    const design = runDesignNotes(cfg);
    const out: Stamped[] = [...events.slice(0, start), { ...head, config: cfg, ...(design.length ? { design } : {}) }];
    let placed = false;
    for (const e of run.slice(1)) {
        if (e.type === "arm" || e.type === "comparison") {
            if (!placed) out.push(...fresh);
            placed = true;
        } else out.push(e);
    }
    return out;
}

/** Rewrites an events.jsonl file with its last run's statistics drawn again; returns how many comparisons it holds. */
export function restatFile(file: string): number {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const events = parseEventLines(lines, (k) => {
        throw new Error(`${file}:${k + 1}: not a JSON event`);
    });
    const out = restatEvents(events);
    writeJsonlAtomic(file, out);
    return out.slice(out.map((e) => e.type).lastIndexOf("run-start")).filter((e) => e.type === "comparison").length;
}
