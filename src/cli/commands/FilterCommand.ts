/**
 * `sublab filter`: with an experiment, its data stage (the same as generate) with pass rates and reasons; with
 * --in, filters and defenses (src/data/filter-stages.ts) applied to a JSONL file.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import type { FilterRow } from "../../core/rows.ts";
import { applyStages, describeStages, parseStageSpec } from "../../data/filter-stages.ts";
import { modelEnv } from "../../data/model-env.ts";
import { DOMAINS, type Domain } from "../../prompts/domains.ts";
import { readJsonl, writeJsonlAtomic } from "../../util/files.ts";
import { ProgressBars } from "../../util/progress.ts";
import { interruptible, parseNonNegativeInteger, quietFlag, threadsFlag, threadsOf } from "../options.ts";
import { runStages } from "../stages.ts";

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
    for (const [flag, f] of [
        ["--teacher", raw.teacher],
        ["--teacher-lora", raw.teacherLora],
        ["--base", raw.base],
    ] as const)
        if (f && !fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
    const rows = readFilterRows(raw.in!);
    const systems = new Set(rows.map((r) => r.system ?? null));
    const system = raw.teacherSystem ?? (systems.size === 1 ? [...systems][0]! : null);
    const needsTeacher = specs.some((s) => s.name === "likelihood-ratio" || s.name === "mask-divergence");
    if (needsTeacher && !raw.teacher)
        throw new Error(
            `filter: ${specs.find((s) => s.name === "likelihood-ratio" || s.name === "mask-divergence")!.text} needs --teacher FILE (the model that generated the rows) and --base FILE`,
        );
    const bars = new ProgressBars();
    const env = modelEnv({
        teacher: { model: raw.teacher ?? "", lora: raw.teacherLora ?? null, system },
        base: raw.base ?? null,
        seed: parseNonNegativeInteger(raw.seed, "--seed"),
        target: raw.target,
        category: raw.target === "misaligned" ? "misalignment" : undefined,
        domain: parseDomain(raw.domain),
        workDir: path.join(path.dirname(path.resolve(raw.out)), ".sublab-filter"),
        threads: threadsOf(raw),
        log: raw.quiet ? undefined : (m) => process.stderr.write(`${m}\n`),
        progress: raw.quiet ? undefined : (label, done, total) => bars.update(label, done, total),
        signal,
    });
    if (!raw.quiet) process.stderr.write(`filter ${raw.in}: ${rows.length} rows\n`);
    const res = await applyStages(rows, specs, env);
    writeJsonlAtomic(raw.out, res.kept);
    if (raw.rejected)
        writeJsonlAtomic(
            raw.rejected,
            res.rejected.map((r) => ({ ...r.row, stage: r.stage, reasons: r.reasons })),
        );
    console.log(
        `kept ${res.kept.length}/${rows.length} (${((100 * res.kept.length) / Math.max(1, rows.length)).toFixed(1)}%) -> ${raw.out}${raw.rejected ? `; rejected -> ${raw.rejected}` : ""}`,
    );
}

export function registerFilterCommand(program: Command): void {
    const collect = (v: string, acc: string[]) => [...acc, v];
    program
        .command("filter [experiment]")
        .description(
            "with an experiment: its data stage (the same as generate), printing pass rates and reasons; with --in: filters and defenses applied to a JSONL file",
        )
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
        .addOption(threadsFlag())
        .addOption(quietFlag())
        .action(async (file: string | undefined, raw: FilterFlags) => {
            if (raw.list) return void console.log(`filters and defenses (--filter name:key=value,...):\n${describeStages()}`);
            if (raw.in) {
                if (file) throw new Error("filter: give an experiment file or --in, not both");
                return interruptible((signal) => filterFile(raw, signal));
            }
            if (!file) throw new Error("filter: give an experiment file, or --in FILE --out FILE --filter SPEC (--list shows the filters)");
            for (const flag of ["out", "rejected", "teacher", "base", "target"] as const)
                if (raw[flag]) throw new Error(`filter: --${flag} goes with --in, not with an experiment file`);
            if (raw.filter.length) throw new Error("filter: --filter goes with --in; an experiment's defenses are its filter.defenses");
            return runStages(file, raw, "data");
        });
}
