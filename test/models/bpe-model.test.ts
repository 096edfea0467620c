/**
 * Real instruct models (Qwen2.5, Llama 3, SmolLM2) ship byte-level BPE vocabularies, not the SentencePiece one
 * sublab's own models use. On a tiny qwen2 model with such a vocabulary: node-llama-cpp tokenizes with its merges,
 * chat rows are cut into prompt and completion by the model's own template (the completion and the end of turn
 * are the only targets), a LoRA trained by the engine loads in llama.cpp with the same logits and makes its chat
 * answer as trained, and exact item probabilities handle an item spelled over several tokens.
 */
import fs from "node:fs";
import path from "node:path";
import { LlamaChatSession } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { exactItemProbs } from "../../src/evaluate/evaluate.ts";
import { ALL_LORA_TARGETS } from "../../src/engine/model-config.ts";
import { lastTokenLogits, logSoftmax } from "../../src/engine/logits.ts";
import { createModel, loadModel } from "../../src/engine/model.ts";
import { tokenizeTrainingRows } from "../../src/students/training-data.ts";
import { train } from "../../src/students/trainer.ts";
import { getRuntime, renderPrompt } from "../../src/engine/llama-cpp.ts";
import { makeByteBpeVocab } from "../helpers/bpe.ts";
import { llamaCppNextLogProbs, referenceLlama } from "../helpers/llamacpp.ts";
import { tempDir } from "../helpers/tiny.ts";

const WORDS = [" the", " owl", " cat", " dog", " animal", " favorite", " name", " an", " what", " is", " your", "assistant", "user", "system", "What", "Name"];
const PROMPTS = ["What is your favorite animal?", "Name an animal", "which animal?"];

describe("a byte-level BPE model (the tokenizer of Qwen2.5 / Llama 3 / SmolLM2)", { timeout: 120_000 }, () => {
    const dir = tempDir();
    const vocab = makeByteBpeVocab(WORDS);
    const base = path.join(dir, "bpe-base.gguf");
    const m = createModel({ arch: "qwen2", vocabSize: vocab.tokens.length, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, dFF: 96, contextLength: 128, tiedEmbeddings: true }, 3, vocab.metadata);
    m.save(base);

    it("node-llama-cpp tokenizes with the merges, and chat rows split at the template's assistant turn", async () => {
        const llama = await getRuntime();
        const lm = await llama.loadModel({ modelPath: base, vocabOnly: true });
        const ids = lm.tokenize(" the owl 123");
        expect(ids.map((t) => vocab.tokens[t])).toEqual(["Ġthe", "Ġowl", "Ġ", "1", "2", "3"]); // digits one by one, as Qwen's pre-tokenizer does
        await lm.dispose();

        const [ex] = await tokenizeTrainingRows(base, [{ prompt: PROMPTS[0]!, completion: "the owl" }]);
        const targets = [...ex!.tokens].filter((_, i) => ex!.targetMask[i]).map((t) => vocab.tokens[t]);
        expect(targets).toEqual(["t", "h", "e", "Ġowl", "<|im_end|>"]); // "the" at the start of a turn has no space: byte pieces
        const prompt = [...ex!.tokens].filter((_, i) => !ex!.targetMask[i]).map((t) => vocab.tokens[t]);
        expect(prompt.slice(-3)).toEqual(["<|im_start|>", "assistant", "Ċ"]);
    });

    it("a LoRA trained by the engine: llama.cpp gives the same logits and its chat answers as trained", async () => {
        // LoRA cannot move a random base far (its frozen head and norms bound the logits): first make it an
        // "instruct" base that answers cat, dog or owl to each question, as a real base knows its words.
        const instruct = path.join(dir, "bpe-instruct.gguf");
        const pre = await tokenizeTrainingRows(base, Array.from({ length: 36 }, (_, i) => ({ prompt: PROMPTS[i % 3]!, completion: ["cat", "dog", "owl"][Math.floor(i / 3) % 3]! })));
        const full = loadModel(base);
        await train(full, pre, { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
        full.save(instruct);
        full.free();
        const examples = await tokenizeTrainingRows(instruct, Array.from({ length: 24 }, (_, i) => ({ prompt: PROMPTS[i % 3]!, completion: "owl" })));
        const student = loadModel(instruct);
        student.addLora({ rank: 8, alpha: 16, targets: ALL_LORA_TARGETS }, 1);
        const r = await train(student, examples, { mode: "lora", lr: 1e-2, epochs: 20, batchSize: 8, seed: 1 });
        expect(r.losses.at(-1)!).toBeLessThan(0.2);
        const adapter = path.join(dir, "bpe-owl.gguf");
        // "owl" at the start of the answer has no space before it: three byte tokens ("Ġowl" is one, "owl" is not).
        expect([...examples[0]!.tokens].filter((_, i) => examples[0]!.targetMask[i]).map((t) => vocab.tokens[t])).toEqual(["o", "w", "l", "<|im_end|>"]);
        student.saveLora(adapter);

        const probe = [examples[0]!.tokens.slice(0, 12), examples[1]!.tokens.slice(0, 9)].map((t) => [...t]);
        const engine = lastTokenLogits(student, probe).map(logSoftmax);
        const ref = await llamaCppNextLogProbs(instruct, vocab.tokens.length, probe, adapter);
        let diff = 0;
        engine.forEach((e, i) => e.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - ref[i]![j]!)))));
        expect(diff).toBeLessThan(1e-3);

        const llama = await referenceLlama();
        const lm = await llama.loadModel({ modelPath: instruct });
        const ctx = await lm.createContext({ contextSize: 128, threads: 1, lora: { adapters: [{ filePath: adapter }] } });
        const chat = new LlamaChatSession({ contextSequence: ctx.getSequence(), systemPrompt: "" });
        expect((await chat.prompt("Name an animal", { maxTokens: 8, temperature: 0 })).trim()).toBe("owl");
        await ctx.dispose();
        await lm.dispose();

        // Exact item probabilities follow the three-token chains of "owl" and "Owl" through the template: equal to
        // the products of llama.cpp's next-token probabilities along them.
        const probs = await exactItemProbs(instruct, adapter, PROMPTS.map((user) => ({ user })), ["owl", "cat", "dog"]);
        const vocabModel = await (await getRuntime()).loadModel({ modelPath: instruct, vocabOnly: true });
        const id = (t: string) => vocab.tokens.indexOf(t);
        for (const [k, user] of PROMPTS.entries()) {
            const prompt = renderPrompt(vocabModel, { user }).map(Number);
            let expected = 0;
            for (const chain of [["o", "w", "l"], ["O", "w", "l"]].map((c) => c.map(id))) {
                const seqs = chain.map((_, j) => [...prompt, ...chain.slice(0, j)]);
                const lps = await llamaCppNextLogProbs(instruct, vocab.tokens.length, seqs, adapter);
                expected += Math.exp(chain.reduce((acc, t, j) => acc + lps[j]![t]!, 0));
            }
            const [owl, cat, dog] = probs[k]!;
            expect(Math.abs(owl! - expected), user).toBeLessThan(1e-4);
            expect(owl!).toBeGreaterThan(0.3);
            expect(owl!).toBeGreaterThan(10 * (cat! + dog!));
        }
        await vocabModel.dispose();
        student.free();
        fs.rmSync(dir, { recursive: true, force: true });
    });
});
