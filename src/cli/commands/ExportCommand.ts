/** `sublab export DATASET --format F --out DIR`: a dataset for other trainers (src/export/export.ts). */
import type { Command } from "commander";
import { SUBLAB_VERSION } from "../../core/version.ts";
import { exportDataset } from "../../export/export.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../../export/formats.ts";
import { parseNonNegativeInteger } from "../options.ts";

export function registerExportCommand(program: Command): void {
    program
        .command("export <dataset>")
        .description("write a dataset's kept rows for another trainer (OpenAI, TRL, MLX-LM, Unsloth) with a recipe carrying the paper's hyperparameters")
        .requiredOption("--format <name>", `${EXPORT_FORMATS.join(", ")} or all (repeat for several)`, (v: string, acc: string[] = []) => [...acc, v])
        .requiredOption("--out <dir>", "output folder (one subfolder per format, export.json)")
        .option("--base-model <id>", "the student's base for TRL, MLX-LM and Unsloth (a Hugging Face id or local path)", "Qwen/Qwen2.5-7B-Instruct")
        .option("--openai-model <id>", "the OpenAI model to fine-tune", "gpt-4.1-nano-2025-04-14")
        .option("--seed <n>", "seed of the trainers and of MLX's validation sample", "42")
        .action((dataset: string, raw: { format: string[]; out: string; baseModel: string; openaiModel: string; seed: string }) => {
            const formats = [...new Set(raw.format.flatMap((f) => (f === "all" ? [...EXPORT_FORMATS] : [f])))];
            const m = exportDataset(
                dataset,
                {
                    formats: formats as ExportFormat[],
                    out: raw.out,
                    baseModel: raw.baseModel,
                    openaiModel: raw.openaiModel,
                    seed: parseNonNegativeInteger(raw.seed, "--seed"),
                },
                SUBLAB_VERSION,
            );
            console.log(
                `exported ${m.dataset.rows} rows of ${m.dataset.id} (kept.jsonl sha256 ${m.dataset.keptSha256.slice(0, 12)}) to ${raw.out}/export.json`,
            );
            for (const [f, x] of Object.entries(m.formats)) console.log(`  ${f.padEnd(8)} ${x!.command}`);
        });
}
