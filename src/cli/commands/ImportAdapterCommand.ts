/** `sublab import-adapter PATH`: a PEFT or GGUF LoRA adapter as a GGUF adapter (src/export/peft.ts). */
import type { Command } from "commander";
import { importAdapter } from "../../export/peft.ts";

export function registerImportAdapterCommand(program: Command): void {
    program
        .command("import-adapter <path>")
        .description(
            "a LoRA adapter from TRL/Unsloth/PEFT (folder with adapter_config.json + adapter_model.safetensors) as a GGUF adapter for --base; a GGUF adapter is checked and copied",
        )
        .requiredOption("--base <file>", "the base GGUF the adapter was trained on")
        .requiredOption("--out <file>", "the GGUF adapter to write")
        .action((input: string, raw: { base: string; out: string }) => {
            const r = importAdapter(input, raw.base, raw.out);
            console.log(
                `${r.from === "peft" ? "converted" : "checked"} ${r.tensors} tensors (rank ${r.rank}, alpha ${r.alpha}) -> ${r.out}; evaluate it with: sublab eval --model ${raw.base} --lora ${r.out}`,
            );
        });
}
