/**
 * The helpers of the commands that run an experiment or a study built on one: a run up to a stage (`run`,
 * `generate`, `filter EXPERIMENT`, `eval --experiment`), and a study command (`sweep`, `chain`, `population`,
 * `study`): load the file, run it with Ctrl-C as an abort, print its table, report files and time.
 */
import type { Command } from "commander";
import { timingTable } from "../core/timing.ts";
import type { StudyRunResult } from "../core/results.ts";
import { reportFilesLine } from "../report/report-files.ts";
import { runExperiment, type RunOptions } from "../studies/experiment.ts";
import { loadExperiment } from "../studies/experiment-file.ts";
import { interruptible, runFlags, runOptionsOf, type CommonFlags } from "./options.ts";

/** `sublab run FILE` (to the end) or a command that stops after a stage: the datasets' pass rates when it stops. */
export async function runStages(file: string, raw: CommonFlags, stopAfter?: RunOptions["stopAfter"]): Promise<void> {
    const cfg = loadExperiment(file);
    await interruptible(async (signal) => {
        const r = await runExperiment(cfg, { ...runOptionsOf(raw), signal, stopAfter });
        if (r.stopped) {
            for (const d of r.datasets) {
                const reasons = Object.entries(d.rejectReasons)
                    .sort((a, b) => b[1] - a[1])
                    .map(([k, v]) => `${k} ${v}`)
                    .join(", ");
                console.log(`datasets/${d.id}: ${d.kept}/${d.raw} kept (${(100 * d.passRate).toFixed(1)}%)${reasons ? `; rejected: ${reasons}` : ""}`);
            }
            if (r.stopped !== "data") console.log(`stopped after the ${r.stopped} stage; \`sublab run ${file}\` finishes the experiment`);
            return;
        }
        console.log(r.table);
        console.log(`\n${reportFilesLine(r.files)}`);
        console.log(`\n${timingTable(r.timing, r.seconds)}`);
        console.log(`took ${(r.seconds / 60).toFixed(1)} min`);
    });
}

/** A study built on an experiment: `sublab NAME FILE` loads it, runs it, prints its table and where its report went. */
export function studyCommand<C, R>(
    program: Command,
    name: string,
    description: string,
    load: (file: string) => C,
    run: (cfg: C, opts: RunOptions) => Promise<StudyRunResult<R>>,
): void {
    runFlags(program.command(`${name} <${name}>`).description(description)).action(async (file: string, raw: CommonFlags) => {
        const cfg = load(file);
        await interruptible(async (signal) => {
            const r = await run(cfg, { ...runOptionsOf(raw), signal });
            console.log(r.table);
            console.log(reportFilesLine(r.files));
            console.log(`\n${timingTable(r.timing, r.seconds)}`);
            console.log(`took ${(r.seconds / 60).toFixed(1)} min`);
        });
    });
}
