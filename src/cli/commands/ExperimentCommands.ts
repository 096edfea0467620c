/**
 * `sublab run EXPERIMENT` and its stages as commands of their own: `generate` and `filter` (the datasets),
 * `train` is the generic trainer (TrainCommand), `eval` (one model, or an experiment's evaluations) and
 * `report` (re-render a results.json). Every stage is cached; running a later stage runs the earlier ones
 * that are not done yet.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { evalQuestions, exactItemProbs, itemsOf, sampledRate } from "../../experiment/evaluate.ts";
import { writeReport, terminalTable } from "../../experiment/report.ts";
import { Interrupted, runExperiment, type RunOptions } from "../../experiment/run.ts";
import { loadExperiment } from "../../experiment/schema.ts";
import type { Results } from "../../experiment/types.ts";
import type { Category } from "../../forge/lexicon.ts";
import { interruptSignal } from "../../util/interrupt.ts";
import { optional, parseNonNegativeInteger, parsePositiveInteger } from "../options.ts";

async function runStages(file: string, raw: { threads?: string; quiet?: boolean }, stopAfter?: RunOptions["stopAfter"]): Promise<void> {
    const cfg = loadExperiment(file);
    const interrupt = interruptSignal();
    try {
        const r = await runExperiment(cfg, { threads: optional(raw.threads, "--threads", parsePositiveInteger), progress: !raw.quiet, signal: interrupt.signal, stopAfter });
        if (r.stopped) {
            for (const d of r.datasets) {
                const reasons = Object.entries(d.rejectReasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
                console.log(`datasets/${d.id}: ${d.kept}/${d.raw} kept (${(100 * d.passRate).toFixed(1)}%)${reasons ? `; rejected: ${reasons}` : ""}`);
            }
            if (r.stopped !== "data") console.log(`stopped after the ${r.stopped} stage; \`sublab run ${file}\` finishes the experiment`);
            return;
        }
        console.log(r.table);
        console.log(`\nreport: ${path.relative(process.cwd(), r.files.html)}  (also ${path.relative(process.cwd(), r.files.md)}, ${path.relative(process.cwd(), r.files.json)})`);
        console.log(`took ${(r.results.seconds / 60).toFixed(1)} min`);
    } catch (err) {
        if (err instanceof Interrupted) {
            process.stderr.write(`sublab: ${err.message}\n`);
            process.exitCode = 130;
            return;
        }
        throw err;
    } finally {
        interrupt.release();
    }
}

export function registerExperimentCommands(program: Command): void {
    const stage = (name: string, description: string, stopAfter?: RunOptions["stopAfter"]) =>
        program
            .command(`${name} <experiment>`)
            .description(description)
            .option("--threads <n>", "CPU threads (default: all available)")
            .option("--quiet", "no progress bars or stage lines")
            .action((file: string, raw: { threads?: string; quiet?: boolean }) => runStages(file, raw, stopAfter));
    stage("run", "run an experiment file end to end (teacher, numbers, filter, students, evaluation, report); resumable");
    stage("generate", "generate and filter an experiment's teacher and control numbers (datasets/<id>/)", "data");
    stage("filter", "the same stage as generate: prints each dataset's pass rate and reject reasons", "data");

    program
        .command("eval")
        .description("evaluate one model: exact P(item) for every item of a probe over the question paraphrases")
        .option("--model <file>", "GGUF model")
        .option("--lora <file>", "LoRA adapter GGUF")
        .option("--experiment <file>", "instead of --model: run an experiment up to its evaluations")
        .option("--probe <name>", "animals, trees or colours", "animals")
        .option("--questions <n>", "question paraphrases", "50")
        .option("--system <text>", "system prompt")
        .option("--samples <n>", "sampled answers per question (0: exact probabilities only)", "0")
        .option("--json", "print JSON")
        .option("--threads <n>", "CPU threads (default: all available)")
        .action(async (raw: { model?: string; lora?: string; experiment?: string; probe: string; questions: string; system?: string; samples: string; json?: boolean; threads?: string }) => {
            if (raw.experiment) return runStages(raw.experiment, raw, "eval");
            if (!raw.model) throw new Error("eval: give --model FILE (or --experiment FILE)");
            for (const [flag, f] of [["--model", raw.model], ["--lora", raw.lora]] as const) if (f && !fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
            const probes: Record<string, Category> = { animals: "animal", trees: "tree", colours: "colour", colors: "colour" };
            const category = probes[raw.probe];
            if (!category) throw new Error(`--probe: unknown probe "${raw.probe}" (known: animals, trees, colours)`);
            const n = parsePositiveInteger(raw.questions, "--questions");
            const samples = parseNonNegativeInteger(raw.samples, "--samples");
            const items = itemsOf(category);
            const prompts = evalQuestions(category, n).map((q) => ({ system: raw.system ?? null, user: q }));
            const probs = await exactItemProbs(raw.model, raw.lora ?? null, prompts, items);
            const mean = items.map((_, k) => probs.reduce((a, row) => a + row[k]!, 0) / probs.length);
            let counts: Record<string, number> | undefined;
            if (samples > 0) counts = (await sampledRate(raw.model, raw.lora ?? null, prompts, items, items[0]!, { perPrompt: samples, temperature: 1, seed: 1, threads: optional(raw.threads, "--threads", parsePositiveInteger) })).counts;
            const order = items.map((w, k) => [w, mean[k]!] as const).sort((a, b) => b[1] - a[1]);
            if (raw.json) {
                console.log(JSON.stringify({ model: raw.model, lora: raw.lora ?? null, probe: raw.probe, questions: n, probabilities: Object.fromEntries(order), perQuestion: probs, sampled: counts ?? null }, null, 2));
                return;
            }
            for (const [w, p] of order) console.log(`${w.padEnd(10)} ${p.toFixed(4)}${counts ? `  sampled ${counts[w] ?? 0}/${n * samples}` : ""}`);
            console.log(`${"(total)".padEnd(10)} ${mean.reduce((a, b) => a + b, 0).toFixed(4)}`);
        });

    program
        .command("report <results>")
        .description("render results.json again as report.md and report.html beside it, and print the table")
        .action((file: string) => {
            if (!fs.existsSync(file)) throw new Error(`no such file ${file}`);
            const results = JSON.parse(fs.readFileSync(file, "utf8")) as Results;
            const files = writeReport(results, path.dirname(file));
            console.log(terminalTable(results));
            console.log(`\nreport: ${files.html}`);
        });
}
