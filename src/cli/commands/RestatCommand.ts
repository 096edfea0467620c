/** `sublab restat EVENTS`: a run's statistics drawn again from the evaluations in its events.jsonl (src/studies/restat.ts). */
import type { Command } from "commander";
import { restatFile } from "../../studies/restat.ts";

export function registerRestatCommand(program: Command): void {
    program
        .command("restat")
        .description(
            "draw a finished run's statistics again from the evaluations in its events.jsonl with the current verdict rules (a run or recording made before them); rewrites the file's arm and comparison events",
        )
        .argument("<events>", "a run's events.jsonl (runs/<name>/events.jsonl, or a recording)")
        .action((file: string) => {
            const n = restatFile(file);
            process.stdout.write(`${file}: ${n} comparisons drawn again; \`sublab report ${file}\` renders them\n`);
        });
}
