/** `sublab forge --preset smoke`: the whole forge path (corpus, vocabulary, pretraining, GGUF) in seconds. */
import fs from "node:fs";
import path from "node:path";
import { LlamaChatSession } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { readGGUF } from "../../src/engine/gguf.ts";
import { engineRows } from "../../src/teacher/engine-rows.ts";
import { forge } from "../../src/forge/forge.ts";
import { referenceLlama } from "../helpers/llamacpp.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("forge --preset smoke", { timeout: 300_000 }, () => {
    const dir = tempDir();

    it("writes a seed-determined f16 GGUF with ChatML that node-llama-cpp chats with", async () => {
        const a = await forge({ preset: "smoke", seed: 3, out: path.join(dir, "a.gguf"), progress: false });
        expect(a.finalLoss).toBeLessThan(a.firstLoss);
        expect(fs.existsSync(`${a.out}.forge`), "the work folder is removed after success").toBe(false);
        const meta = readGGUF(a.out).metadata;
        expect(meta.get("tokenizer.chat_template")?.value).toContain("<|im_start|>");
        expect(meta.get("sublab.forge.seed")?.value).toBe(3);

        const few = { rows: 300, epochs: 1 };
        const b1 = await forge({ preset: "smoke", seed: 3, out: path.join(dir, "b1.gguf"), progress: false, overrides: few });
        const b2 = await forge({ preset: "smoke", seed: 3, out: path.join(dir, "b2.gguf"), progress: false, overrides: few });
        expect(fs.readFileSync(b1.out).equals(fs.readFileSync(b2.out)), "same seed, same bytes").toBe(true);
        const c = await forge({ preset: "smoke", seed: 4, out: path.join(dir, "c.gguf"), progress: false, overrides: few });
        expect(fs.readFileSync(c.out).equals(fs.readFileSync(b1.out))).toBe(false);

        const llama = await referenceLlama();
        const model = await llama.loadModel({ modelPath: a.out });
        const ctx = await model.createContext({ contextSize: 256, threads: 1 });
        const session = new LlamaChatSession({ contextSequence: ctx.getSequence(), systemPrompt: "" });
        const answer = await session.prompt("What is your favorite animal?", { maxTokens: 5, temperature: 0 });
        // The same file decoded greedily by sublab's engine (its own reader, graph and the template rendered by
        // node-llama-cpp) answers the same: the GGUF means one thing to both.
        const ours: string[] = [];
        await engineRows({ model: a.out, prompts: [{ user: "What is your favorite animal?" }], samplesPerPrompt: 1, temperature: 0, maxTokens: 5, seedOf: () => 0, onRow: (r) => ours.push(r.completion) });
        expect(answer.length).toBeGreaterThan(0);
        expect(ours[0]!.trim()).toBe(answer.trim());
        await ctx.dispose();
        await model.dispose();
    });

    it("names an unknown preset", async () => {
        await expect(forge({ preset: "huge", out: path.join(dir, "x.gguf") })).rejects.toThrow(/unknown preset "huge" \(known: smoke, small, deep, defender\)/);
    });
});
