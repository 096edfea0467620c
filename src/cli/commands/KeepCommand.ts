/** `sublab keep RESULTS FILE`: a finished results file kept in experiments/results/ with its provenance (src/studies/kept.ts). */
import type { Command } from "commander";
import { keepResults, staleKept } from "../../studies/kept.ts";

export function registerKeepCommand(program: Command): void {
    program
        .command("keep")
        .description(
            "keep a finished run's, sweep's, study's, chain's, population's, theorem's or entanglement run's results in experiments/results/, with the sha256 of the experiment file and models they came from (the README quotes only kept results)",
        )
        .argument("[results]", "a finished results folder (runs/<name>) or its results.json")
        .argument(
            "[file]",
            "the experiment, sweep, study, chain or population file that made it (none for `sublab theorem`'s and `sublab entangle`'s results: they record what they were asked)",
        )
        .option("--check", "list kept results whose experiment files or models changed since (exit 1 when any did)")
        .action((results: string | undefined, file: string | undefined, flags: { check?: boolean }) => {
            const root = process.cwd();
            if (flags.check) {
                const stale = staleKept(root);
                for (const line of stale) process.stdout.write(`${line}\n`);
                if (stale.length === 0) process.stdout.write("every kept results file matches the shipped experiment files and models\n");
                else process.exitCode = 1;
                return;
            }
            if (!results)
                throw new Error("keep: give the results (runs/<name>) and the file that made them, e.g. `sublab keep runs/demo experiments/demo.json`");
            const kept = keepResults(root, results, file);
            process.stdout.write(
                `kept ${kept.file}\n  ${kept.provenance.command}\n${kept.provenance.inputs.map((i) => `  ${i.path} ${i.sha256.slice(0, 12)}`).join("\n")}\n`,
            );
        });
}
