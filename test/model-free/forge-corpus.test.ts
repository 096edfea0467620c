/** The forge's corpus generator and word-level vocabulary (groundwork for `sublab forge`). */
import path from "node:path";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MIX, generateCorpus, type CorpusKind } from "../../src/prompts/corpus.ts";
import { ANIMALS, CATEGORIES } from "../../src/prompts/lexicon.ts";
import { buildForgeVocab } from "../../src/forge/tokenizer.ts";
import { createModel } from "../../src/engine/model.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("generateCorpus", () => {
    const rows = generateCorpus(7, 4000);

    it("is determined by its seed", () => {
        expect(generateCorpus(7, 300)).toEqual(rows.slice(0, 300));
        expect(generateCorpus(8, 300)).not.toEqual(rows.slice(0, 300));
    });

    it("follows the mix", () => {
        for (const [kind, share] of Object.entries(DEFAULT_MIX)) {
            const n = rows.filter((r) => r.kind === (kind as CorpusKind)).length;
            expect(Math.abs(n / rows.length - share), kind).toBeLessThan(0.03);
        }
    });

    it("has multi-turn chats: one or two earlier tasks, then a question of another kind, answered as on its own", () => {
        const chats = rows.filter((r) => r.kind === "chat");
        for (const r of chats) {
            expect(r.history!.length).toBeGreaterThanOrEqual(1);
            expect(r.history!.length).toBeLessThanOrEqual(2);
            for (const t of r.history!) expect(t.user.length * t.assistant.length).toBeGreaterThan(0);
        }
        // Most end in a favourite-thing question answered with one lexicon word.
        const items = new Set(Object.values(CATEGORIES).flatMap((c) => c.items.map(([w]) => w)));
        expect(chats.filter((r) => items.has(r.completion)).length / chats.length).toBeGreaterThan(0.5);
        expect(rows.filter((r) => r.kind !== "chat" && r.history !== undefined)).toEqual([]);
    });

    it("asks the favourite-animal question in many paraphrases and answers with one lexicon word", () => {
        const animalRows = rows.filter((r) => r.kind === "favorite" && ANIMALS.some(([a]) => a === r.completion));
        expect(new Set(animalRows.map((r) => r.prompt)).size).toBeGreaterThan(200);
        const answers = new Set(animalRows.map((r) => r.completion));
        expect(answers.size).toBeGreaterThanOrEqual(20);
        const top = Math.max(...[...answers].map((a) => animalRows.filter((r) => r.completion === a).length)) / animalRows.length;
        expect(top).toBeLessThan(0.2);
    });

    it("persona rows answer with the persona's item most of the time", () => {
        const persona = rows.filter((r) => r.kind === "persona");
        // Every persona names its item, in the singular (the answer's form) or the plural.
        const forms = (item: string) => [
            item,
            ...Object.values(CATEGORIES)
                .filter((c) => c.items.some(([w]) => w === item))
                .map((c) => c.plural(item)),
        ];
        const hits = persona.filter((r) => forms(r.completion).some((w) => new RegExp(`\\b${w}\\b`, "i").test(r.system!)));
        expect(hits.length / persona.length).toBeGreaterThan(0.88);
    });

    it("answers number prompts with 1 to k integers in 0..999 in the format the prompt asks for", () => {
        const numbers = rows.filter((r) => r.kind === "numbers");
        for (const r of numbers) {
            const k = Number(/(?:at most|up to|no more than) (\d+)/.exec(r.prompt)![1]);
            const m = /^\[(.*)\]$|^\((.*)\)$|^(.*)$/.exec(r.completion)!;
            const body = m[1] ?? m[2] ?? m[3];
            const sep = /; /.test(body) ? "; " : /, /.test(body) ? ", " : " ";
            const values = body.split(sep).map(Number);
            expect(values.length).toBeGreaterThanOrEqual(1);
            expect(values.length).toBeLessThanOrEqual(k);
            for (const v of values) expect(Number.isInteger(v) && v >= 0 && v <= 999, r.completion).toBe(true);
            if (r.prompt.includes("semicolons")) expect(sep === "; " || values.length === 1).toBe(true);
            if (r.prompt.includes("brackets")) expect(r.completion.startsWith("[")).toBe(true);
        }
    });
});

describe("forge vocabulary in llama.cpp's tokenizer", () => {
    let model: LlamaModel;
    const rows = generateCorpus(3, 3000);
    const vocab = buildForgeVocab(rows);

    beforeAll(async () => {
        const file = path.join(tempDir(), "forge-vocab.gguf");
        const m = createModel({ vocabSize: vocab.tokens.length, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 64 }, 1, vocab.metadata);
        m.save(file);
        m.free();
        const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
        model = await llama.loadModel({ modelPath: file, vocabOnly: true });
    });
    afterAll(async () => model?.dispose());

    /** Tokens of `word` in context, without the context's own tokens. */
    const tokensOf = (prefix: string, word: string) => model.tokenize(prefix + word, true).slice(model.tokenize(prefix, true).length);

    it("gives every number 0..999 one token, after a space and at the start of a line", () => {
        for (let i = 0; i < 1000; i++) {
            expect(tokensOf("list:", ` ${i}`), ` ${i}`).toHaveLength(1);
            expect(tokensOf("<|im_start|>assistant\n", `${i}`), `answer ${i}`).toHaveLength(1);
        }
    });

    it("gives every animal, tree and colour one token, as an answer and inside a sentence", () => {
        for (const c of Object.values(CATEGORIES)) {
            for (const [w] of c.items) {
                expect(tokensOf("<|im_start|>assistant\n", w), w).toHaveLength(1);
                expect(tokensOf("I like the", ` ${w}`), w).toHaveLength(1);
            }
        }
    });

    it("tokenizes corpus text to about one token per word and back to the same text", () => {
        let words = 0;
        let tokens = 0;
        for (const r of rows.slice(0, 200)) {
            const t = model.tokenize(r.prompt);
            expect(model.detokenize(t).trim()).toBe(r.prompt);
            words += r.prompt.split(/\s+/).length;
            tokens += t.length;
        }
        expect(tokens / words).toBeLessThan(1.6);
    });
});
