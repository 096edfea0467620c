/**
 * `sublab train` end to end on a tiny model: a few hundred steps on a small text drive the loss far below its
 * start and node-llama-cpp, loading the saved GGUF, reproduces the text; a LoRA adapter trained on chat rows
 * (completion-only loss, the model's ChatML template) makes node-llama-cpp's chat answer as trained.
 */
import fs from "node:fs";
import path from "node:path";
import { LlamaChatSession, LlamaCompletion } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { parseTrainOptions } from "../../src/cli/commands/TrainCommand.ts";
import { runTrainJob } from "../../src/students/train-job.ts";
import { referenceLlama } from "../helpers/llamacpp.ts";
import { tempDir, tinyModel } from "../helpers/tiny.ts";

const CHAT_PROMPTS = ["what is your favorite animal?", "name an animal", "which animal?"];
const SENTENCES = ["the owl is a bird", "my cat is a cat", "the dog is my favorite animal", "a bird is a bird"];

function writeJsonl(file: string, rows: object[]): void {
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

describe("sublab train (end to end)", () => {
    const dir = tempDir();
    const base = path.join(dir, "base.gguf");
    const textModel = path.join(dir, "text.gguf");

    it("full fine-tune on a small text: loss falls far and llama.cpp reproduces the text", async () => {
        const m = tinyModel({}, 5);
        m.save(base);
        m.free();
        const data = path.join(dir, "text.jsonl");
        // Plain text, plus chat turns so that the base knows its chat template (as an instruct base does).
        const chat = CHAT_PROMPTS.map((prompt, i) => ({ prompt, completion: ["the cat", "the dog", "a bird"][i] }));
        writeJsonl(data, [...Array.from({ length: 32 }, (_, i) => ({ text: SENTENCES[i % SENTENCES.length] })), ...chat, ...chat, ...chat]);
        const opts = parseTrainOptions({ model: base, data, out: textModel, full: true, lr: "3e-3", epochs: "60", batchSize: "8", seed: "1" });
        const r = await runTrainJob({ ...opts, progress: false });
        expect(r.steps).toBe(Math.ceil((32 + 9) / 8) * 60); // a few hundred steps
        expect(r.interrupted).toBe(false);
        expect(r.finalLoss).toBeLessThan(0.3);
        expect(r.finalLoss).toBeLessThan(r.firstLoss / 10);
        expect(fs.existsSync(`${textModel}.checkpoint.gguf`), "finished runs leave no checkpoint").toBe(false);

        const llama = await referenceLlama();
        const model = await llama.loadModel({ modelPath: textModel });
        const ctx = await model.createContext({ contextSize: 64, threads: 1 });
        const completion = new LlamaCompletion({ contextSequence: ctx.getSequence() });
        const out = await completion.generateCompletion("the owl", { maxTokens: 12, temperature: 0 });
        expect(out.trim()).toBe("is a bird");
        await ctx.dispose();
        await model.dispose();
    });

    it("LoRA on chat rows: only the completion is trained and the chat answers with it", async () => {
        const data = path.join(dir, "chat.jsonl");
        writeJsonl(data, Array.from({ length: 24 }, (_, i) => ({ prompt: CHAT_PROMPTS[i % 3], completion: "the owl" })));
        const adapter = path.join(dir, "owl-lora.gguf");
        const opts = parseTrainOptions({ model: textModel, data, out: adapter, loraRank: "8", loraAlpha: "16", lr: "1e-2", epochs: "20", batchSize: "8" });
        const r = await runTrainJob({ ...opts, progress: false });
        expect(r.finalLoss).toBeLessThan(0.2);

        const llama = await referenceLlama();
        const model = await llama.loadModel({ modelPath: textModel });
        for (const [lora, want] of [[adapter, true], [undefined, false]] as const) {
            const ctx = await model.createContext({ contextSize: 128, threads: 1, lora: lora ? { adapters: [{ filePath: lora }] } : undefined });
            const chat = new LlamaChatSession({ contextSequence: ctx.getSequence(), systemPrompt: "" });
            const answer = await chat.prompt("name an animal", { maxTokens: 8, temperature: 0 });
            if (want) expect(answer.trim()).toBe("the owl");
            else expect(answer.trim()).not.toBe("the owl");
            await ctx.dispose();
        }
        await model.dispose();
    });
});
