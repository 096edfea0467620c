/**
 * `sublab entangle`: entangled numbers and subliminal prompting for a trait (src/studies/entangle.ts), from a
 * base and a teacher given directly or from an experiment (whose data stage is run or reused, and whose teacher
 * and control datasets are then checked for over-production of the entangled numbers).
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { reportFilesLine } from "../../report/report-files.ts";
import type { ModelSource } from "../../core/jobs.ts";
import { cachedPath } from "../../core/cache.ts";
import type { DatasetManifest } from "../../core/types.ts";
import { runExperiment } from "../../studies/experiment.ts";
import { parseExperiment } from "../../studies/experiment-file.ts";
import { entangle } from "../../studies/entangle.ts";
import type { Category } from "../../prompts/lexicon.ts";
import { isMisalignment, traitPersona } from "../../prompts/traits.ts";
import { entangleTable, writeEntangleReport } from "../../report/entangle-report.ts";
import { readJsonFile } from "../../util/files.ts";
import { ProgressBars } from "../../util/progress.ts";
import { subRng } from "../../util/rng.ts";
import { parseNonNegativeInteger, parsePositiveInteger, quietFlag, threadsFlag, threadsOf } from "../options.ts";

interface EntangleFlags {
    model?: string;
    target?: string;
    category: string;
    system?: string;
    teacherModel?: string;
    teacherLora?: string;
    experiment?: string;
    data?: string;
    controlData?: string;
    contexts: string;
    top: string;
    questions: string;
    seed: string;
    threads?: string;
    out?: string;
    quiet?: boolean;
}

const CATEGORY_NAMES: Record<string, Category> = {
    animals: "animal",
    animal: "animal",
    trees: "tree",
    tree: "tree",
    colours: "colour",
    colour: "colour",
    colors: "colour",
};

function category(name: string): Category {
    const c = CATEGORY_NAMES[name];
    if (!c) throw new Error(`--category: unknown category "${name}" (known: animals, trees, colours)`);
    return c;
}

function checkFile(file: string | undefined, flag: string): void {
    if (file !== undefined && !fs.existsSync(file)) throw new Error(`${flag}: no such file ${file}`);
}

/** The experiment's base, teacher, target and datasets (its data stage run, or found done). */
async function fromExperiment(
    file: string,
    target: string | undefined,
    progress: boolean,
): Promise<{ base: string; teacher: ModelSource; target: string; category: Category; data: { teacher: string; control: string } }> {
    checkFile(file, "--experiment");
    const raw = readJsonFile(file) as { teacher?: Record<string, unknown> };
    // --target overrides the experiment's: a variant with its own cache keys, as a sweep arm would be.
    const json = target ? { ...raw, name: `${(raw as { name?: string }).name ?? "experiment"}-${target}`, teacher: { ...(raw.teacher ?? {}), target } } : raw;
    const cfg = parseExperiment(json, target ? `${file} with teacher.target "${target}"` : file);
    if (isMisalignment(cfg.teacher.category))
        throw new Error(`entangle: ${file} has the misalignment trait; entanglement is measured for an item category (animals, trees, colours)`);
    if (cfg.generate.domain !== "numbers") throw new Error(`entangle: ${file} generates ${cfg.generate.domain}; entanglement is measured on number data`);
    const run = await runExperiment(cfg, { stopAfter: "data", progress });
    if (!run.stopped) throw new Error("entangle: the experiment ran past its data stage");
    const manifest = (role: string) => {
        const d = run.datasets.find((x) => x.role === role);
        if (!d) throw new Error(`entangle: ${file} made no ${role} dataset`);
        return { dir: path.join("datasets", d.id), m: readJsonFile(path.join("datasets", d.id, "manifest.json")) as DatasetManifest };
    };
    const here = (f: string) => cachedPath(f, process.cwd()) ?? f;
    const t = manifest("teacher");
    const c = manifest("control");
    return {
        base: cfg.models.base,
        // A cache copied from another checkout keeps the paths it was made with: the teacher is found in this one.
        teacher: { model: here(t.m.model.path), lora: t.m.lora ? here(t.m.lora.path) : null, system: t.m.system },
        target: cfg.teacher.target,
        category: cfg.teacher.category as Category,
        data: { teacher: path.join(t.dir, "kept.jsonl"), control: path.join(c.dir, "kept.jsonl") },
    };
}

export function registerEntangleCommand(program: Command): void {
    program
        .command("entangle")
        .description(
            'entangled numbers: which numbers a trait raises, whether "You love N" for them raises the trait beyond frequency-matched numbers, and whether the teacher\'s data over-produces them',
        )
        .option("--model <file>", "the base GGUF (not with --experiment)")
        .option("--target <item>", "the trait's item (default owl; with --experiment, overrides its target)")
        .option("--category <name>", "animals, trees or colours", "animals")
        .option("--system <text>", "the teacher's trait system prompt (default: the corpus persona for the target)")
        .option("--teacher-model <file>", "a fine-tuned teacher GGUF instead of a system prompt")
        .option("--teacher-lora <file>", "a teacher LoRA adapter on --model")
        .option("--experiment <file>", "take base, teacher and target from an experiment; its teacher and control datasets (made if missing) are checked too")
        .option("--data <file>", "a teacher dataset's kept.jsonl (with --control-data)")
        .option("--control-data <file>", "its control dataset's kept.jsonl")
        .option("--contexts <n>", "number prompts the first-token distributions are averaged over", "300")
        .option("--top <n>", "numbers in each prompted set (entangled, frequency-matched, random)", "10")
        .option("--questions <n>", "evaluation questions per prompted number", "20")
        .option("--seed <n>", "number prompts, random set, statistics", "1")
        .addOption(threadsFlag())
        .option("--out <dir>", "where results.json and the reports go (default: runs/entangle-<target>)")
        .addOption(quietFlag("no progress bars"))
        .action(async (raw: EntangleFlags) => {
            for (const [f, flag] of [
                [raw.model, "--model"],
                [raw.teacherModel, "--teacher-model"],
                [raw.teacherLora, "--teacher-lora"],
                [raw.data, "--data"],
                [raw.controlData, "--control-data"],
            ] as const)
                checkFile(f, flag);
            if ((raw.data === undefined) !== (raw.controlData === undefined)) throw new Error("entangle: --data and --control-data go together");
            const seed = parseNonNegativeInteger(raw.seed, "--seed");
            let setup: { base: string; teacher: ModelSource; target: string; category: Category; data?: { teacher: string; control: string } };
            if (raw.experiment) {
                if (raw.model || raw.system || raw.teacherModel || raw.teacherLora || raw.data)
                    throw new Error(
                        "entangle: --experiment gives the base, the teacher and the data; leave out --model, --system, --teacher-model, --teacher-lora and --data",
                    );
                if (raw.category !== "animals") throw new Error("entangle: --experiment gives the category");
                setup = await fromExperiment(raw.experiment, raw.target, !raw.quiet);
            } else {
                if (!raw.model) throw new Error("entangle: give --model FILE (the base), or --experiment FILE");
                if (raw.teacherModel && raw.teacherLora) throw new Error("entangle: --teacher-model and --teacher-lora are two kinds of teacher; give one");
                const cat = category(raw.category);
                const target = raw.target ?? "owl";
                const finetuned = raw.teacherModel || raw.teacherLora;
                if (finetuned && raw.system) throw new Error("entangle: --system is the prompted teacher; a fine-tuned teacher takes none");
                const system = finetuned ? null : (raw.system ?? traitPersona(subRng(seed, "persona"), cat, target));
                setup = {
                    base: raw.model,
                    teacher: { model: raw.teacherModel ?? raw.model, lora: raw.teacherLora ?? null, system },
                    target,
                    category: cat,
                    data: raw.data ? { teacher: raw.data, control: raw.controlData! } : undefined,
                };
            }
            const bars = new ProgressBars();
            const r = await entangle({
                ...setup,
                contexts: parsePositiveInteger(raw.contexts, "--contexts"),
                top: parsePositiveInteger(raw.top, "--top"),
                questions: parsePositiveInteger(raw.questions, "--questions"),
                seed,
                threads: threadsOf(raw),
                progress: raw.quiet ? undefined : (what, done, total) => bars.update(what, done, total),
            });
            bars.finish();
            const out = raw.out ?? path.join("runs", `entangle-${r.target}`);
            r.asked = { experiment: raw.experiment ?? null, contexts: r.contexts, top: parsePositiveInteger(raw.top, "--top"), questions: r.questions, out };
            const files = writeEntangleReport(r, out);
            console.log(entangleTable(r));
            console.log(reportFilesLine(files));
        });
}
