/** `sublab export DATASET --format F --out DIR`: a dataset for other trainers (src/export/export.ts). */
import type { Command } from "commander";
import { SUBLAB_VERSION } from "../../core/version.ts";
import { exportDataset } from "../../export/export.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../../export/formats.ts";
import { exportOnnx } from "../../export/onnx.ts";
import { importAdapter, writePeftAdapter } from "../../export/peft.ts";
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
            const m = exportDataset(dataset, { formats: formats as ExportFormat[], out: raw.out, baseModel: raw.baseModel, openaiModel: raw.openaiModel, seed: parseNonNegativeInteger(raw.seed, "--seed") }, SUBLAB_VERSION);
            console.log(`exported ${m.dataset.rows} rows of ${m.dataset.id} (kept.jsonl sha256 ${m.dataset.keptSha256.slice(0, 12)}) to ${raw.out}/export.json`);
            for (const [f, x] of Object.entries(m.formats)) console.log(`  ${f.padEnd(8)} ${x!.command}`);
        });

    program
        .command("import-adapter <path>")
        .description("a LoRA adapter from TRL/Unsloth/PEFT (folder with adapter_config.json + adapter_model.safetensors) as a GGUF adapter for --base; a GGUF adapter is checked and copied")
        .requiredOption("--base <file>", "the base GGUF the adapter was trained on")
        .requiredOption("--out <file>", "the GGUF adapter to write")
        .action((input: string, raw: { base: string; out: string }) => {
            const r = importAdapter(input, raw.base, raw.out);
            console.log(`${r.from === "peft" ? "converted" : "checked"} ${r.tensors} tensors (rank ${r.rank}, alpha ${r.alpha}) -> ${r.out}; evaluate it with: sublab eval --model ${raw.base} --lora ${r.out}`);
        });

    program
        .command("export-adapter <adapter>")
        .description("a GGUF LoRA adapter (sublab train/run write these) as a PEFT folder for Hugging Face tools")
        .requiredOption("--out <dir>", "folder for adapter_config.json + adapter_model.safetensors")
        .requiredOption("--base <file>", "the base GGUF the adapter was trained on (checked; its head size restores llama q/k row order)")
        .option("--base-model <id>", "base_model_name_or_path to record", "unknown")
        .action((adapter: string, raw: { out: string; base: string; baseModel: string }) => {
            writePeftAdapter(adapter, raw.out, raw.baseModel, raw.base);
            console.log(`wrote ${raw.out}/adapter_config.json and adapter_model.safetensors`);
        });

    program
        .command("export-onnx <model>")
        .description("a llama/qwen2 GGUF (with a LoRA adapter merged in) as an ONNX folder that @huggingface/transformers loads (config, tokenizer, onnx/model.onnx)")
        .requiredOption("--out <dir>", "output folder")
        .option("--lora <file>", "GGUF LoRA adapter to merge into the weights")
        .action((model: string, raw: { out: string; lora?: string }) => {
            const r = exportOnnx(model, raw.out, { lora: raw.lora ?? null, version: SUBLAB_VERSION });
            console.log(`wrote ${r.dir}: ${r.arch}, ${(r.parameters / 1e6).toFixed(2)}M parameters, ${r.nodes} ONNX nodes, ${(r.bytes / 2 ** 20).toFixed(1)} MiB of fp32 weights`);
        });
}
