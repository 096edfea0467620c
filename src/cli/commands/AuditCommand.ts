/**
 * `sublab audit`, provenance: which candidate teacher a student moved toward (the cosine of their parameter
 * changes from the shared base, and with --answers of their answer-distribution shifts), or, with --data, which
 * persona best explains a dataset (the per-token log-likelihood gain under each persona-prompted base).
 */
import fs from "node:fs";
import type { Command } from "commander";
import { auditData } from "../../studies/data-audit.ts";
import { answerCosines, teacherCosines } from "../../studies/provenance-audit.ts";
import type { Category } from "../../prompts/lexicon.ts";
import { readJsonl } from "../../util/files.ts";
import { ProgressBars } from "../../util/progress.ts";
import { parseNonNegativeInteger, parsePositiveInteger } from "../options.ts";

const collect = (v: string, acc: string[]) => [...acc, v];

const PROBES: Record<string, Category> = { animals: "animal", trees: "tree", colours: "colour", colors: "colour" };

interface AuditFlags {
    base: string;
    student?: string;
    teacher: string[];
    data?: string;
    candidates?: string;
    probe: string;
    questions: string;
    rows: string;
    maxTokens: string;
    seed: string;
    answers?: boolean;
    json?: boolean;
}

function probe(name: string): Category {
    const c = PROBES[name];
    if (!c) throw new Error(`--probe: unknown probe "${name}" (known: animals, trees, colours)`);
    return c;
}

/** A JSONL file of { prompt, completion } rows; a bad line is named with its number. */
function dataRows(file: string): { prompt: string; completion: string }[] {
    const rows = readJsonl<{ prompt?: unknown; completion?: unknown }>(file);
    rows.forEach((r, k) => {
        if (typeof r.prompt !== "string" || typeof r.completion !== "string")
            throw new Error(`${file}:${k + 1}: expected an object with string fields "prompt" and "completion"`);
    });
    return rows as { prompt: string; completion: string }[];
}

export function registerAuditCommand(program: Command): void {
    program
        .command("audit")
        .description(
            "provenance: which candidate teacher a student moved toward (weights; --answers: answer shifts too), or with --data which persona best explains a dataset",
        )
        .requiredOption("--base <file>", "the base GGUF (the student's and the teachers' shared base, or the model the data is scored with)")
        .option("--student <file>", "the student GGUF")
        .option("--teacher <file>", "a candidate teacher GGUF (repeat for more)", collect, [])
        .option("--answers", "also compare answer-distribution shifts over the probe's items")
        .option("--data <file>", "instead of --student: a JSONL of {prompt, completion} rows (e.g. a dataset's kept.jsonl)")
        .option("--candidates <items>", "with --data: comma-separated candidate items (default: every item of the probe)")
        .option("--probe <name>", "animals, trees or colours", "animals")
        .option("--questions <n>", "with --answers: question paraphrases", "50")
        .option("--rows <n>", "with --data: rows scored, drawn by the seed", "300")
        .option("--max-tokens <n>", "with --data: length of the base's own reference completions", "48")
        .option("--seed <n>", "with --data: rows, reference and permutations", "1")
        .option("--json", "print the result as JSON")
        .action(async (raw: AuditFlags) => {
            for (const [flag, f] of [
                ["--base", raw.base],
                ["--student", raw.student],
                ["--data", raw.data],
                ...raw.teacher.map((t) => ["--teacher", t] as const),
            ] as const) {
                if (f !== undefined && !fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
            }
            if (raw.data) {
                if (raw.student || raw.teacher.length)
                    throw new Error("audit: --data audits a dataset against personas; --student and --teacher audit a model (give one or the other)");
                const bars = new ProgressBars();
                const r = await auditData({
                    base: raw.base,
                    rows: dataRows(raw.data),
                    category: probe(raw.probe),
                    candidates: raw.candidates
                        ?.split(",")
                        .map((x) => x.trim())
                        .filter(Boolean),
                    maxRows: parsePositiveInteger(raw.rows, "--rows"),
                    maxTokens: parsePositiveInteger(raw.maxTokens, "--max-tokens"),
                    seed: parseNonNegativeInteger(raw.seed, "--seed"),
                    progress: raw.json ? undefined : (what, done, total) => bars.update(what, done, total),
                });
                bars.finish();
                if (raw.json) return void console.log(JSON.stringify(r, null, 2));
                console.log(`${raw.data}: ${r.rows} rows scored with ${r.base}; gain per token over the base's own writing on the same prompts`);
                for (const p of r.personas.slice(0, 10))
                    console.log(`  ${p.item.padEnd(10)} ${p.gain >= 0 ? " " : ""}${p.gain.toFixed(4)}  [${p.ci95[0].toFixed(4)}, ${p.ci95[1].toFixed(4)}]`);
                console.log(`top: ${r.top}, p = ${r.pValue.toPrecision(2)} (max over ${r.personas.length} personas, ${r.permutations} paired permutations)`);
                return;
            }
            if (!raw.student) throw new Error("audit: give --student FILE with --teacher FILE (one or more), or --data FILE");
            if (raw.teacher.length === 0) throw new Error("audit: give at least one --teacher FILE");
            const r = teacherCosines(raw.base, raw.student, raw.teacher);
            const answers = raw.answers
                ? await answerCosines(raw.base, raw.student, raw.teacher, probe(raw.probe), parsePositiveInteger(raw.questions, "--questions"))
                : undefined;
            if (raw.json) return void console.log(JSON.stringify(answers ? { ...r, answers } : r, null, 2));
            console.log(`student ${r.student}: |change from the base| ${r.studentNorm.toPrecision(4)} over ${r.parameters} parameters`);
            for (const t of r.teachers) {
                const a = answers?.teachers.find((x) => x.model === t.teacher);
                console.log(
                    `  cos ${t.cosine >= 0 ? " " : ""}${t.cosine.toFixed(4)}  |teacher change| ${t.teacherNorm.toPrecision(4)}${a ? `  answers cos ${a.cosine >= 0 ? " " : ""}${a.cosine.toFixed(3)}` : ""}  ${t.teacher}`,
                );
            }
        });
}
