/** `sublab export-adapter ADAPTER`: a GGUF LoRA adapter as a PEFT folder (src/export/peft.ts). */
import type { Command } from "commander";
import { writePeftAdapter } from "../../export/peft.ts";

export function registerExportAdapterCommand(program: Command): void {
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
}
