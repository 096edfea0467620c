/**
 * `sublab run EXPERIMENT` and its stages as commands of their own: `generate` and `filter` (the datasets),
 * `train` is the generic trainer (TrainCommand), `eval` (one model, or an experiment's evaluations) and
 * `report` (re-render a results.json). Every stage is cached; running a later stage runs the earlier ones
 * that are not done yet.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { reportFilesLine } from "../../report/report-files.ts";
import { DOMAINS, type Domain } from "../../prompts/domains.ts";
import { exactItemProbs, sampledRate } from "../../evaluate/evaluate.ts";
import { writeReport, terminalTable } from "../../report/run-report.ts";
import { resultsFromEventFile } from "../../report/from-events.ts";
import { writeRunReplay } from "../../workshop/replay.ts";
import { Interrupted, runExperiment, type RunOptions } from "../../studies/experiment.ts";
import { loadExperiment } from "../../studies/experiment-file.ts";
import { loadSweep, runSweep, type SweepResults } from "../../studies/sweep.ts";
import { sweepTable, writeSweepReport } from "../../report/sweep-report.ts";
import { loadChain, runChain } from "../../studies/chain.ts";
import { chainTable, writeChainReport } from "../../report/chain-report.ts";
import { populationTable, writePopulationReport } from "../../report/population-report.ts";
import { theoremTable, writeTheoremReport } from "../../report/theorem-report.ts";
import { isTheoremResults } from "../../studies/theorem.ts";
import type { TheoremResults } from "../../core/results.ts";
import { isEntangleResults } from "../../studies/entangle.ts";
import type { EntangleResults } from "../../core/results.ts";
import { entangleTable, writeEntangleReport } from "../../report/entangle-report.ts";
import { loadStudy, runStudy, type StudyResults } from "../../studies/study.ts";
import { studyTable, writeStudyResultsReport } from "../../report/study-report.ts";
import { compareRuns, compareTable, writeCompareReport, type CompareResults } from "../../report/compare-report.ts";
import { SUBLAB_VERSION } from "../../core/version.ts";
import type { ChainResults, PopulationResults } from "../../core/results.ts";
import { loadPopulation, runPopulation } from "../../studies/population.ts";
import { onnxItemProbs } from "../../teacher/onnx-teacher.ts";
import { modelEnv } from "../../data/model-env.ts";
import { applyStages, describeStages, parseStageSpec } from "../../data/filter-stages.ts";
import { readJsonl, writeJsonlAtomic } from "../../util/files.ts";
import { ProgressBars } from "../../util/progress.ts";
import type { Results } from "../../core/results.ts";
import { timingTable } from "../../core/timing.ts";
import type { Category } from "../../prompts/lexicon.ts";
import { interruptSignal } from "../../util/interrupt.ts";
import { optional, parseNonNegativeInteger, parsePositiveInteger } from "../options.ts";
import { evalQuestions, itemsOf } from "../../prompts/items.ts";
import { type FilterRow } from "../../core/rows.ts";
import { reviveIntervals } from "../../core/verdicts.ts";

async function runStages(file: string, raw: { threads?: string; workers?: string; quiet?: boolean }, stopAfter?: RunOptions["stopAfter"]): Promise<void> {
    const cfg = loadExperiment(file);
    await interruptible(async (signal) => {
        const r = await runExperiment(cfg, { threads: optional(raw.threads, "--threads", parsePositiveInteger), workers: optional(raw.workers, "--workers", parsePositiveInteger), progress: !raw.quiet, signal, stopAfter });
        if (r.stopped) {
            for (const d of r.datasets) {
                const reasons = Object.entries(d.rejectReasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
                console.log(`datasets/${d.id}: ${d.kept}/${d.raw} kept (${(100 * d.passRate).toFixed(1)}%)${reasons ? `; rejected: ${reasons}` : ""}`);
            }
            if (r.stopped !== "data") console.log(`stopped after the ${r.stopped} stage; \`sublab run ${file}\` finishes the experiment`);
            return;
        }
        // report.html is the workshop page's static replay of the run, with the full report as its last step.
        await writeRunReplay(path.join(r.dir, "events.jsonl"), r.files.html, fs.readFileSync(r.files.html, "utf8"));
        console.log(r.table);
        console.log(`\n${reportFilesLine(r.files)}`);
        console.log(`\n${timingTable(r.timing, r.seconds)}`);
        console.log(`took ${(r.seconds / 60).toFixed(1)} min`);
    });
}

/** Runs a resumable job with Ctrl-C turned into an abort signal; an interrupted job exits 130 with how to resume. */
/** A study built on an experiment (sweep, chain, population): `sublab NAME FILE` loads it, runs it, prints its table and where its report went. */
function studyCommand<C>(program: Command, name: string, description: string, load: (file: string) => C, run: (cfg: C, opts: RunOptions) => Promise<{ table: string; files: { json: string; md: string; html: string }; results: { seconds: number } }>): void {
    program
        .command(`${name} <${name}>`)
        .description(description)
        .option("--threads <n>", "CPU threads (default: all available)")
        .option("--workers <n>", WORKERS_HELP)
        .option("--quiet", "no progress bars or stage lines")
        .action(async (file: string, raw: { threads?: string; workers?: string; quiet?: boolean }) => {
            const cfg = load(file);
            await interruptible(async (signal) => {
                const r = await run(cfg, { threads: optional(raw.threads, "--threads", parsePositiveInteger), workers: optional(raw.workers, "--workers", parsePositiveInteger), progress: !raw.quiet, signal });
                console.log(r.table);
                console.log(reportFilesLine(r.files));
                console.log(`took ${(r.results.seconds / 60).toFixed(1)} min`);
            });
        });
}

async function interruptible(job: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const interrupt = interruptSignal();
    try {
        await job(interrupt.signal);
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

/** --domain (commander gives it its default, "numbers"). */
function parseDomain(d: string): Domain {
    if (!(DOMAINS as readonly string[]).includes(d)) throw new Error(`--domain: expected one of ${DOMAINS.join(", ")}, got "${d}"`);
    return d as Domain;
}

interface FilterFlags {
    in?: string;
    out?: string;
    rejected?: string;
    filter: string[];
    list?: boolean;
    teacher?: string;
    teacherLora?: string;
    teacherSystem?: string;
    base?: string;
    target?: string;
    domain: string;
    seed: string;
    threads?: string;
    quiet?: boolean;
}

/** Reads the rows of a JSONL file to filter; a row without a prompt or completion fails naming its line. */
function readFilterRows(file: string): FilterRow[] {
    if (!fs.existsSync(file)) throw new Error(`--in: no such file ${file}`);
    let rows: Record<string, unknown>[];
    try {
        rows = readJsonl<Record<string, unknown>>(file);
    } catch (e) {
        throw new Error(`--in ${(e as Error).message}`);
    }
    return rows.map((r, k) => {
        for (const f of ["prompt", "completion"]) if (typeof r[f] !== "string") throw new Error(`--in ${file}: row ${k + 1} has no string "${f}"`);
        return { ...(r as unknown as FilterRow), i: typeof r.i === "number" ? r.i : k };
    });
}

/** `sublab filter --in`: the stages applied to a file, kept and rejected rows written, a line per stage. */
async function filterFile(raw: FilterFlags, signal: AbortSignal): Promise<void> {
    if (!raw.out) throw new Error("filter: --in needs --out FILE for the kept rows");
    if (raw.filter.length === 0) throw new Error("filter: give at least one --filter SPEC (sublab filter --list shows them)");
    const specs = raw.filter.map(parseStageSpec);
    for (const [flag, f] of [["--teacher", raw.teacher], ["--teacher-lora", raw.teacherLora], ["--base", raw.base]] as const) if (f && !fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
    const rows = readFilterRows(raw.in!);
    const systems = new Set(rows.map((r) => r.system ?? null));
    const system = raw.teacherSystem ?? (systems.size === 1 ? [...systems][0]! : null);
    const needsTeacher = specs.some((s) => s.name === "likelihood-ratio" || s.name === "mask-divergence");
    if (needsTeacher && !raw.teacher) throw new Error(`filter: ${specs.find((s) => s.name === "likelihood-ratio" || s.name === "mask-divergence")!.text} needs --teacher FILE (the model that generated the rows) and --base FILE`);
    const bars = new ProgressBars();
    const env = modelEnv({
        teacher: { model: raw.teacher ?? "", lora: raw.teacherLora ?? null, system },
        base: raw.base ?? null,
        seed: parseNonNegativeInteger(raw.seed, "--seed"),
        target: raw.target,
        category: raw.target === "misaligned" ? "misalignment" : undefined,
        domain: parseDomain(raw.domain),
        workDir: path.join(path.dirname(path.resolve(raw.out)), ".sublab-filter"),
        threads: optional(raw.threads, "--threads", parsePositiveInteger),
        log: raw.quiet ? undefined : (m) => process.stderr.write(`${m}\n`),
        progress: raw.quiet ? undefined : (label, done, total) => bars.update(label, done, total),
        signal,
    });
    if (!raw.quiet) process.stderr.write(`filter ${raw.in}: ${rows.length} rows\n`);
    const res = await applyStages(rows, specs, env);
    writeJsonlAtomic(raw.out, res.kept);
    if (raw.rejected) writeJsonlAtomic(raw.rejected, res.rejected.map((r) => ({ ...r.row, stage: r.stage, reasons: r.reasons })));
    console.log(`kept ${res.kept.length}/${rows.length} (${((100 * res.kept.length) / Math.max(1, rows.length)).toFixed(1)}%) -> ${raw.out}${raw.rejected ? `; rejected -> ${raw.rejected}` : ""}`);
}

const WORKERS_HELP = "worker processes, one thread each, that generate, train students and evaluate side by side (default: one per core; 1 does everything in this process)";

export function registerExperimentCommands(program: Command): void {
    const stage = (name: string, description: string, stopAfter?: RunOptions["stopAfter"]) =>
        program
            .command(`${name} <experiment>`)
            .description(description)
            .option("--threads <n>", "CPU threads (default: all available)")
            .option("--workers <n>", WORKERS_HELP)
            .option("--quiet", "no progress bars or stage lines")
            .action((file: string, raw: { threads?: string; workers?: string; quiet?: boolean }) => runStages(file, raw, stopAfter));
    stage("run", "run an experiment file end to end (teacher, numbers, filter, students, evaluation, report); resumable");
    stage("generate", "generate and filter an experiment's teacher and control numbers (datasets/<id>/)", "data");

    const collect = (v: string, acc: string[]) => [...acc, v];
    program
        .command("filter [experiment]")
        .description("with an experiment: its data stage (the same as generate), printing pass rates and reasons; with --in: filters and defenses applied to a JSONL file")
        .option("--in <file>", "rows to filter (JSONL: prompt, completion; optional i, system, tokens, probs, stop), e.g. datasets/<id>/raw.jsonl")
        .option("--out <file>", "kept rows (JSONL)")
        .option("--rejected <file>", "rejected rows with the stage and reasons (JSONL)")
        .option("--filter <spec>", "a stage, name or name:key=value,... (repeat for more, applied in order; see --list)", collect, [])
        .option("--list", "list the filters and defenses with their parameters")
        .option("--teacher <file>", "the GGUF that generated the rows (likelihood-ratio, mask-divergence)")
        .option("--teacher-lora <file>", "the teacher's LoRA adapter")
        .option("--teacher-system <text>", "the teacher's system prompt (default: the rows' system, when they share one)")
        .option("--base <file>", "the base GGUF (likelihood-ratio, mask-divergence; judge and paraphrase default to it)")
        .option("--target <word>", "the trait's target (keyword's and judge's default words; \"misaligned\": the violent words and the alignment judge)")
        .option("--domain <name>", `the rows' data domain (${DOMAINS.join(", ")}): format's, paraphrase's and dedupe's default`, "numbers")
        .option("--seed <n>", "seed of the random stages", "42")
        .option("--threads <n>", "CPU threads (default: all available)")
        .option("--quiet", "no progress bars or stage lines")
        .action(async (file: string | undefined, raw: FilterFlags) => {
            if (raw.list) return void console.log(`filters and defenses (--filter name:key=value,...):\n${describeStages()}`);
            if (raw.in) {
                if (file) throw new Error("filter: give an experiment file or --in, not both");
                return interruptible((signal) => filterFile(raw, signal));
            }
            if (!file) throw new Error("filter: give an experiment file, or --in FILE --out FILE --filter SPEC (--list shows the filters)");
            for (const flag of ["out", "rejected", "teacher", "base", "target"] as const) if (raw[flag]) throw new Error(`filter: --${flag} goes with --in, not with an experiment file`);
            if (raw.filter.length) throw new Error("filter: --filter goes with --in; an experiment's defenses are its filter.defenses");
            return runStages(file, raw, "data");
        });

    studyCommand(program, "sweep", "one student arm per filter or defense (each with its own control), several seeds: transfer against data kept; resumable", loadSweep, runSweep);
    studyCommand(program, "chain", "generations of students, each trained on the previous one's data, beside a control chain from the base: the trait per generation; resumable", loadChain, runChain);
    studyCommand(
        program,
        "population",
        "agents that train on each other's outputs round after round: the epidemic curve with and without a monitor that quarantines, and a null population; resumable",
        loadPopulation,
        runPopulation,
    );
    studyCommand(program, "study", "a grid over the student recipe (LoRA rank, full fine-tuning, optimizer, labels, rows, epochs, evaluation context), each cell a treated/control pair with seeds on shared cached data: a heatmap of transfer; resumable", loadStudy, runStudy);

    program
        .command("eval")
        .description("evaluate one model: exact P(item) for every item of a probe over the question paraphrases")
        .option("--model <file>", "GGUF model")
        .option("--onnx <dir>", "instead of --model: an ONNX folder (sublab export-onnx) run by @huggingface/transformers")
        .option("--lora <file>", "LoRA adapter GGUF")
        .option("--experiment <file>", "instead of --model: run an experiment up to its evaluations")
        .option("--probe <name>", "animals, trees or colours", "animals")
        .option("--questions <n>", "question paraphrases", "50")
        .option("--system <text>", "system prompt")
        .option("--samples <n>", "sampled answers per question (0: exact probabilities only)", "0")
        .option("--json", "print JSON")
        .option("--threads <n>", "CPU threads (default: all available)")
        .action(async (raw: { model?: string; onnx?: string; lora?: string; experiment?: string; probe: string; questions: string; system?: string; samples: string; json?: boolean; threads?: string }) => {
            if (raw.experiment) return runStages(raw.experiment, raw, "eval");
            if (raw.onnx && (raw.model || raw.lora || Number(raw.samples) > 0)) throw new Error("eval: --onnx takes no --model, --lora or --samples (merge an adapter with export-onnx --lora)");
            if (!raw.model && !raw.onnx) throw new Error("eval: give --model FILE, --onnx DIR or --experiment FILE");
            for (const [flag, f] of [["--model", raw.model], ["--lora", raw.lora]] as const) if (f && !fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
            const probes: Record<string, Category> = { animals: "animal", trees: "tree", colours: "colour", colors: "colour" };
            const category = probes[raw.probe];
            if (!category) throw new Error(`--probe: unknown probe "${raw.probe}" (known: animals, trees, colours)`);
            const n = parsePositiveInteger(raw.questions, "--questions");
            const samples = parseNonNegativeInteger(raw.samples, "--samples");
            const items = itemsOf(category);
            const prompts = evalQuestions(category, n).map((q) => ({ system: raw.system ?? null, user: q }));
            const probs = raw.onnx ? await onnxItemProbs(raw.onnx, prompts, items) : await exactItemProbs(raw.model!, raw.lora ?? null, prompts, items);
            const mean = items.map((_, k) => probs.reduce((a, row) => a + row[k]!, 0) / probs.length);
            let counts: Record<string, number> | undefined;
            if (samples > 0) counts = (await sampledRate(raw.model!, raw.lora ?? null, prompts, items, items[0]!, { perPrompt: samples, temperature: 1, seed: 1, threads: optional(raw.threads, "--threads", parsePositiveInteger) })).counts;
            const order = items.map((w, k) => [w, mean[k]!] as const).sort((a, b) => b[1] - a[1]);
            if (raw.json) {
                console.log(JSON.stringify({ model: raw.model ?? raw.onnx, lora: raw.lora ?? null, probe: raw.probe, questions: n, probabilities: Object.fromEntries(order), perQuestion: probs, sampled: counts ?? null }, null, 2));
                return;
            }
            for (const [w, p] of order) console.log(`${w.padEnd(10)} ${p.toFixed(4)}${counts ? `  sampled ${counts[w] ?? 0}/${n * samples}` : ""}`);
            console.log(`${"(total)".padEnd(10)} ${mean.reduce((a, b) => a + b, 0).toFixed(4)}`);
        });

    program
        .command("compare <runs...>")
        .description("finished runs side by side (runs/<name> or its results.json): treated, cross-model and in-context against their controls, a table and a forest chart of the log-ratios")
        .option("--out <dir>", "where report.md, report.html and results.json go", "runs/compare")
        .action((runs: string[], opts: { out: string }) => {
            const r = compareRuns(runs, SUBLAB_VERSION);
            const files = writeCompareReport(r, opts.out);
            console.log(compareTable(r));
            console.log(reportFilesLine(files));
        });

    program
        .command("report <results>")
        .description("render results.json (a run's, a sweep's, a chain's, a population's, a recipe study's, the theorem experiment's, an entanglement study's or a comparison's; or a run's events.jsonl) again as report.md and report.html beside it, and print the table")
        .action(async (file: string) => {
            if (!fs.existsSync(file)) throw new Error(`no such file ${file}`);
            const results = file.endsWith(".jsonl") ? resultsFromEventFile(file) : (JSON.parse(fs.readFileSync(file, "utf8"), reviveIntervals) as Results | SweepResults | ChainResults | PopulationResults | TheoremResults | EntangleResults | StudyResults | CompareResults);
            if ("compare" in results) {
                const files = writeCompareReport(results, path.dirname(file));
                console.log(compareTable(results));
                console.log(`\nreport: ${files.html}`);
                return;
            }
            if ("study" in results) {
                const files = writeStudyResultsReport(results, path.dirname(file));
                console.log(studyTable(results));
                console.log(`\nreport: ${files.html}`);
                return;
            }
            if (isEntangleResults(results)) {
                const files = writeEntangleReport(path.dirname(file), results);
                console.log(entangleTable(results));
                console.log(`\nreport: ${files.html}`);
                return;
            }
            if (isTheoremResults(results)) {
                const files = writeTheoremReport(path.dirname(file), results);
                console.log(theoremTable(results));
                console.log(`\nreport: ${files.html}`);
                return;
            }
            if ("chain" in results || "population" in results) {
                const files = "chain" in results ? writeChainReport(results, path.dirname(file)) : writePopulationReport(results, path.dirname(file));
                console.log("chain" in results ? chainTable(results) : populationTable(results));
                console.log(`\nreport: ${files.html}`);
                return;
            }
            if ("sweep" in results) {
                const files = writeSweepReport(results, path.dirname(file));
                console.log(sweepTable(results));
                console.log(`\nreport: ${files.html}`);
                return;
            }
            const files = writeReport(results, path.dirname(file));
            const events = file.endsWith(".jsonl") ? file : path.join(path.dirname(file), "events.jsonl");
            if (fs.existsSync(events)) await writeRunReplay(events, files.html, fs.readFileSync(files.html, "utf8"));
            console.log(terminalTable(results));
            console.log(`\nreport: ${files.html}`);
        });
}
