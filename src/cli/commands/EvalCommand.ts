/** `sublab eval`: one model's exact P(item) for every item of a probe, or an experiment run up to its evaluations. */
import fs from "node:fs";
import type { Command } from "commander";
import { exactItemProbs, sampledRate } from "../../evaluate/evaluate.ts";
import { evalQuestions, itemsOf } from "../../prompts/items.ts";
import type { Category } from "../../prompts/lexicon.ts";
import { onnxItemProbs } from "../../teacher/onnx-teacher.ts";
import { parseNonNegativeInteger, parsePositiveInteger, threadsFlag, threadsOf } from "../options.ts";
import { runStages } from "../stages.ts";

export function registerEvalCommand(program: Command): void {
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
        .addOption(threadsFlag())
        .action(
            async (raw: {
                model?: string;
                onnx?: string;
                lora?: string;
                experiment?: string;
                probe: string;
                questions: string;
                system?: string;
                samples: string;
                json?: boolean;
                threads?: string;
            }) => {
                if (raw.experiment) return runStages(raw.experiment, raw, "eval");
                if (raw.onnx && (raw.model || raw.lora || Number(raw.samples) > 0))
                    throw new Error("eval: --onnx takes no --model, --lora or --samples (merge an adapter with export-onnx --lora)");
                if (!raw.model && !raw.onnx) throw new Error("eval: give --model FILE, --onnx DIR or --experiment FILE");
                for (const [flag, f] of [
                    ["--model", raw.model],
                    ["--lora", raw.lora],
                ] as const)
                    if (f && !fs.existsSync(f)) throw new Error(`${flag}: no such file ${f}`);
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
                if (samples > 0)
                    counts = (
                        await sampledRate(raw.model!, raw.lora ?? null, prompts, items, items[0]!, {
                            perPrompt: samples,
                            temperature: 1,
                            seed: 1,
                            threads: threadsOf(raw),
                        })
                    ).counts;
                const order = items.map((w, k) => [w, mean[k]!] as const).sort((a, b) => b[1] - a[1]);
                if (raw.json) {
                    console.log(
                        JSON.stringify(
                            {
                                model: raw.model ?? raw.onnx,
                                lora: raw.lora ?? null,
                                probe: raw.probe,
                                questions: n,
                                probabilities: Object.fromEntries(order),
                                perQuestion: probs,
                                sampled: counts ?? null,
                            },
                            null,
                            2,
                        ),
                    );
                    return;
                }
                for (const [w, p] of order) console.log(`${w.padEnd(10)} ${p.toFixed(4)}${counts ? `  sampled ${counts[w] ?? 0}/${n * samples}` : ""}`);
                console.log(`${"(total)".padEnd(10)} ${mean.reduce((a, b) => a + b, 0).toFixed(4)}`);
            },
        );
}
