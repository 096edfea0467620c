/** `sublab forge`: build a tiny base model from a synthetic corpus (tokenizer, corpus, pretraining). */
import type { Command } from "commander";
import { forge, FORGE_PRESETS } from "../../forge/forge.ts";
import { optional, parseNonNegativeInteger, threadsFlag, threadsOf } from "../options.ts";

export function registerForgeCommand(program: Command): void {
    program
        .command("forge")
        .description("make a tiny Llama base model from scratch: corpus, tokenizer, pretraining; writes a GGUF with a chat template")
        .option("--preset <name>", `model size and training (${Object.keys(FORGE_PRESETS).join(", ")}; default: small)`)
        .option("--seed <n>", "initialisation and data-order seed (default: 1)")
        .option("--corpus-seed <n>", "corpus and vocabulary seed; keep it equal across bases for the cross-model control (default: 1)")
        .option("--out <file>", "output GGUF (default: models/sublab-<preset>-s<seed>.gguf)")
        .addOption(threadsFlag())
        .action(async (raw: { preset?: string; seed?: string; corpusSeed?: string; out?: string; threads?: string }) => {
            const preset = raw.preset ?? "small";
            const seed = optional(raw.seed, "--seed", parseNonNegativeInteger) ?? 1;
            const out = raw.out ?? `models/sublab-${preset}-s${seed}.gguf`;
            const r = await forge({
                preset,
                seed,
                corpusSeed: optional(raw.corpusSeed, "--corpus-seed", parseNonNegativeInteger),
                out,
                threads: threadsOf(raw),
            });
            console.log(
                `wrote ${r.out}: ${(r.parameters / 1e6).toFixed(2)}M parameters, vocabulary ${r.vocabSize}, ${(r.bytes / 1e6).toFixed(1)} MB; ` +
                    `${r.steps} steps, loss ${r.firstLoss.toFixed(3)} -> ${r.finalLoss.toFixed(3)} (mean of the last 50 steps ${r.finalLossMean.toFixed(3)}), ${(r.seconds / 60).toFixed(1)} min`,
            );
        });
}
