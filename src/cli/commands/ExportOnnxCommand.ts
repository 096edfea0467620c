/** `sublab export-onnx MODEL`: a GGUF (with an adapter merged) as an ONNX folder (src/export/onnx.ts). */
import type { Command } from "commander";
import { SUBLAB_VERSION } from "../../core/version.ts";
import { exportOnnx } from "../../export/onnx.ts";

export function registerExportOnnxCommand(program: Command): void {
    program
        .command("export-onnx <model>")
        .description(
            "a llama/qwen2 GGUF (with a LoRA adapter merged in) as an ONNX folder that @huggingface/transformers loads (config, tokenizer, onnx/model.onnx)",
        )
        .requiredOption("--out <dir>", "output folder")
        .option("--lora <file>", "GGUF LoRA adapter to merge into the weights")
        .action((model: string, raw: { out: string; lora?: string }) => {
            const r = exportOnnx(model, raw.out, { lora: raw.lora ?? null, version: SUBLAB_VERSION });
            console.log(
                `wrote ${r.dir}: ${r.arch}, ${(r.parameters / 1e6).toFixed(2)}M parameters, ${r.nodes} ONNX nodes, ${(r.bytes / 2 ** 20).toFixed(1)} MiB of fp32 weights`,
            );
        });
}
