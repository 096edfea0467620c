/** `sublab generate EXPERIMENT`: an experiment's data stage alone (teacher, generation, format filter, defenses). */
import type { Command } from "commander";
import { runFlags, type CommonFlags } from "../options.ts";
import { runStages } from "../stages.ts";

export function registerGenerateCommand(program: Command): void {
    runFlags(program.command("generate <experiment>").description("generate and filter an experiment's teacher and control numbers (datasets/<id>/)")).action(
        (file: string, raw: CommonFlags) => runStages(file, raw, "data"),
    );
}
