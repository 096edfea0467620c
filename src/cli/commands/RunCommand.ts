/** `sublab run EXPERIMENT`: every stage of an experiment, cached and resumable (src/studies/experiment.ts). */
import type { Command } from "commander";
import { runFlags, type CommonFlags } from "../options.ts";
import { runStages } from "../stages.ts";

export function registerRunCommand(program: Command): void {
    runFlags(
        program
            .command("run <experiment>")
            .description("run an experiment file end to end (teacher, numbers, filter, students, evaluation, report); resumable"),
    ).action((file: string, raw: CommonFlags) => runStages(file, raw));
}
