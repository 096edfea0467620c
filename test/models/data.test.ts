import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tempDir, tinyModel } from "../helpers/tiny.ts";
import {
    ChatMLChatWrapper,
    GeneralChatWrapper,
    getLlama,
    LlamaLogLevel,
    resolveChatWrapper,
    type ChatHistoryItem,
    type LlamaModel,
    type Token,
    type Tokenizer,
} from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    formatChatForTraining,
    parseTrainingJsonl,
    readTrainingJsonl,
    tokenizeChatRow,
    tokenizeTrainingRows,
    type ChatRow,
    type ChatTokenizerModel,
    type TrainExample,
} from "../../src/students/training-data.ts";

describe("parseTrainingJsonl: bad rows name their line and what is wrong", () => {
    const good = `{"prompt": "p", "completion": "c"}`;
    const both = `a row has either "text" or "prompt"/"completion", not both`;
    it.each<[string, string, number, string]>([
        ["invalid JSON", `{"prompt": "p",`, 2, "invalid JSON"],
        ["a trailing comma", `{"text": "t",}`, 2, "invalid JSON"],
        ["an array", `["p", "c"]`, 2, "expected a JSON object, got an array"],
        ["a string", `"hello"`, 2, "expected a JSON object, got a string"],
        ["null", `null`, 2, "expected a JSON object, got null"],
        ["a number", `42`, 2, "expected a JSON object, got a number"],
        ["an empty object", `{}`, 2, `expected {"prompt", "completion"} or {"text"}, got neither`],
        ["missing completion", `{"prompt": "p"}`, 2, `missing "completion"`],
        ["missing prompt", `{"completion": "c"}`, 2, `missing "prompt"`],
        ["a number prompt", `{"prompt": 1, "completion": "c"}`, 2, `"prompt" must be a string, got a number`],
        ["a null completion", `{"prompt": "p", "completion": null}`, 2, `"completion" must be a string, got null`],
        ["an empty completion", `{"prompt": "p", "completion": ""}`, 2, `empty "completion"`],
        ["a blank completion", `{"prompt": "p", "completion": " \\n"}`, 2, `empty "completion"`],
        ["an empty prompt", `{"prompt": "", "completion": "c"}`, 2, `empty "prompt"`],
        ["a non-string system", `{"prompt": "p", "completion": "c", "system": true}`, 2,
            `"system" must be a string, got a boolean`],
        ["an unknown key", `{"prompt": "p", "completion": "c", "xyz": 1}`, 2, `unknown key "xyz"`],
        ["a misspelt key", `{"prompt": "p", "complection": "c"}`, 2, `unknown key "complection"`],
        ["text and prompt", `{"text": "t", "prompt": "p"}`, 2, both],
        ["text and completion", `{"text": "t", "completion": "c"}`, 2, both],
        ["text with system", `{"text": "t", "system": "s"}`, 2, `unknown key "system"`],
        ["a number text", `{"text": 5}`, 2, `"text" must be a string, got a number`],
        ["an empty text", `{"text": ""}`, 2, `empty "text"`],
        ["a history that is not an array", `{"prompt": "p", "completion": "c", "history": "h"}`, 2, `"history" must be an array of {"user", "assistant"} turns, got a string`],
        ["a history turn that is not an object", `{"prompt": "p", "completion": "c", "history": [1]}`, 2, `"history"[0] must be an object {"user", "assistant"}, got a number`],
        ["a history turn without its answer", `{"prompt": "p", "completion": "c", "history": [{"user": "u"}]}`, 2, `"history"[0]: missing "assistant"`],
        ["a history turn with an unknown key", `{"prompt": "p", "completion": "c", "history": [{"user": "u", "assistant": "a"}, {"user": "u", "model": "a"}]}`, 2, `"history"[1]: unknown key "model"`],
    ])("%s", (_name, badLine, lineNumber, reason) => {
        const text = `${good}\n${badLine}\n${good}\n`;
        expect(() => parseTrainingJsonl(text, "data.jsonl")).toThrow(`data.jsonl:${lineNumber}: ${reason}`);
    });

    it("counts blank lines in the line number", () => {
        const text = `\n{"text": "a"}\n\n   \n{"text": 1}\n`;
        expect(() => parseTrainingJsonl(text, "f.jsonl")).toThrow(/^f\.jsonl:5: "text" must be a string/);
    });

    it.each([[""], ["\n\n"], ["  \n\t\n"]])("fails on a file with no rows (%j)", (text) => {
        expect(() => parseTrainingJsonl(text, "empty.jsonl")).toThrow("empty.jsonl: no rows");
    });
});

describe("parseTrainingJsonl: good rows", () => {
    it("reads both shapes, skips blank lines, accepts CRLF", () => {
        const text = [
            `{"prompt": "What is 2+2?", "completion": "4"}`,
            ``,
            `{"system": "Be terse.", "prompt": "Count", "completion": "1, 2, 3"}`,
            `{"text": "plain text"}`,
            `{"prompt": "p", "completion": "c", "system": ""}`,
            ``,
        ].join("\r\n");
        expect(parseTrainingJsonl(text, "x")).toEqual([
            { prompt: "What is 2+2?", completion: "4" },
            { system: "Be terse.", prompt: "Count", completion: "1, 2, 3" },
            { text: "plain text" },
            { prompt: "p", completion: "c", system: "" },
        ]);
    });

    it("keeps the text exactly, whitespace and unicode included", () => {
        const rows = parseTrainingJsonl(`{"prompt": " a\\tb ", "completion": "ünï 🐱\\n"}`, "x");
        expect(rows).toEqual([{ prompt: " a\tb ", completion: "ünï 🐱\n" }]);
    });
});

describe("readTrainingJsonl", () => {
    let dir: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-data-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reads a file", () => {
        const file = path.join(dir, "ok.jsonl");
        fs.writeFileSync(file, `{"prompt": "p", "completion": "c"}\n{"text": "t"}\n`);
        expect(readTrainingJsonl(file)).toEqual([{ prompt: "p", completion: "c" }, { text: "t" }]);
    });

    it("prefixes errors with the path and line", () => {
        const file = path.join(dir, "bad.jsonl");
        fs.writeFileSync(file, `{"text": "t"}\n{"text": "t", "foo": 1}\n`);
        expect(() => readTrainingJsonl(file)).toThrow(`${file}:2: unknown key "foo"`);
    });

    it("fails on an empty file", () => {
        const file = path.join(dir, "empty.jsonl");
        fs.writeFileSync(file, "");
        expect(() => readTrainingJsonl(file)).toThrow(`${file}: no rows`);
    });

    it("fails on a missing file, naming it", () => {
        const file = path.join(dir, "missing.jsonl");
        expect(() => readTrainingJsonl(file)).toThrow(`${file}: cannot read training data`);
    });
});

describe("formatChatForTraining", () => {
    it("writes a system message only when the row has one", () => {
        const h = formatChatForTraining({ prompt: "p", completion: "c" });
        expect(h.prompt).toEqual([{ type: "user", text: "p" }, { type: "model", response: [] }]);
        expect(h.full).toEqual([{ type: "user", text: "p" }, { type: "model", response: ["c"] }]);
        expect(h.closed.slice(0, 2)).toEqual(h.full);
        expect(h.closed[2]!.type).toBe("user");
        const s = formatChatForTraining({ prompt: "p", completion: "c", system: "s" });
        expect(s.full[0]).toEqual({ type: "system", text: "s" });
        expect(s.full).toHaveLength(3);
    });

    it("puts a row's history between the system message and its prompt", () => {
        const h = formatChatForTraining({ prompt: "p", completion: "c", system: "s", history: [{ user: "u1", assistant: "a1" }, { user: "u2", assistant: "a2" }] });
        expect(h.full).toEqual([
            { type: "system", text: "s" },
            { type: "user", text: "u1" }, { type: "model", response: ["a1"] },
            { type: "user", text: "u2" }, { type: "model", response: ["a2"] },
            { type: "user", text: "p" }, { type: "model", response: ["c"] },
        ]);
    });

    it("reads a row's history from JSONL", () => {
        const [row] = parseTrainingJsonl(`{"prompt": "p", "completion": "c", "history": [{"user": "u", "assistant": "a"}]}`, "d.jsonl");
        expect(row).toEqual({ prompt: "p", completion: "c", history: [{ user: "u", assistant: "a" }] });
    });
});

/**
 * A toy character-level tokenizer: one token per character (its char code), the special tokens below,
 * and one BPE-like merge ("\nF" is one token), enough to exercise masking without a GGUF.
 */
const SPECIAL: Record<string, Token> = {
    "<|im_start|>": 1001 as Token,
    "<|im_end|>": 1002 as Token,
    "<eos>": 1003 as Token,
    "<bos>": 1000 as Token,
};
const BUILTIN: Record<string, Token> = { BOS: 1000 as Token, EOS: 1003 as Token, EOT: 1002 as Token };
const MERGED_NEWLINE_F = 3000 as Token;

function toyTokenize(text: string, specialTokens?: boolean | "builtin"): Token[] {
    if (specialTokens === "builtin") return BUILTIN[text] === undefined ? [] : [BUILTIN[text]!];
    const out: Token[] = [];
    for (let i = 0; i < text.length; ) {
        const special = specialTokens ? Object.keys(SPECIAL).find((s) => text.startsWith(s, i)) : undefined;
        if (special !== undefined) {
            out.push(SPECIAL[special]!);
            i += special.length;
        } else if (text.startsWith("\nF", i)) {
            out.push(MERGED_NEWLINE_F);
            i += 2;
        } else {
            out.push(text.charCodeAt(i) as Token);
            i += 1;
        }
    }
    return out;
}

function toyDetokenize(tokens: readonly Token[], specialTokens = false): string {
    const names = new Map(Object.entries(SPECIAL).map(([k, v]) => [v, k]));
    const text = (t: Token) => {
        if (t === MERGED_NEWLINE_F) return "\nF";
        if (names.has(t)) return specialTokens ? names.get(t)! : "";
        return String.fromCharCode(t);
    };
    return tokens.map(text).join("");
}

const isEog = (t: Token | undefined) => t === 1002 || t === 1003;
const toyTokenizer = Object.assign(toyTokenize, {
    detokenize: toyDetokenize,
    isSpecialToken: (t: Token) => t >= 1000 && t < 2000,
    isEogToken: isEog,
}) as unknown as Tokenizer;
const toyModel: ChatTokenizerModel = {
    tokenizer: toyTokenizer,
    isEogToken: isEog,
    tokens: { eot: 1002 as Token, eos: 1003 as Token },
};

function targets(ex: TrainExample): Token[] {
    return Array.from(ex.tokens).filter((_, j) => ex.targetMask[j] === 1) as Token[];
}

describe("tokenizeChatRow with a toy tokenizer (no model file)", () => {
    it("ChatML: the mask covers the completion and <|im_end|> only", () => {
        const ex = tokenizeChatRow(toyModel, new ChatMLChatWrapper(), { prompt: "Hi", completion: "Yo!" }, 0);
        const all = toyDetokenize(Array.from(ex.tokens) as Token[], true);
        expect(all).toBe("<bos><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo!<|im_end|>");
        expect(toyDetokenize(targets(ex), true)).toBe("Yo!<|im_end|>");
        // The targets are one contiguous run at the end.
        const first = ex.targetMask.indexOf(1);
        expect(Array.from(ex.targetMask.slice(first)).every((m) => m === 1)).toBe(true);
        expect(ex.targetMask[0]).toBe(0);
        expect(ex.tokens).toBeInstanceOf(Int32Array);
        expect(ex.targetMask).toBeInstanceOf(Uint8Array);
    });

    it("ChatML: a row's history is rendered but only the last completion is a target", () => {
        const ex = tokenizeChatRow(toyModel, new ChatMLChatWrapper(), { prompt: "Hi", completion: "Yo!", history: [{ user: "1 2", assistant: "3 4" }] }, 0);
        expect(toyDetokenize(Array.from(ex.tokens) as Token[], true)).toBe("<bos><|im_start|>user\n1 2<|im_end|>\n<|im_start|>assistant\n3 4<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo!<|im_end|>");
        expect(toyDetokenize(targets(ex), true)).toBe("Yo!<|im_end|>");
    });

    it("ChatML: a system message appears only when the row has one", () => {
        const render = (row: ChatRow) => {
            const ex = tokenizeChatRow(toyModel, new ChatMLChatWrapper(), row, 0);
            return toyDetokenize(Array.from(ex.tokens) as Token[], true);
        };
        expect(render({ prompt: "a", completion: "b", system: "S" })).toContain("<|im_start|>system\nS<|im_end|>");
        expect(render({ prompt: "a", completion: "b" })).not.toContain("system");
        // "" is passed on as an empty system message, as LlamaChatSession does with systemPrompt "";
        // ChatML then writes none.
        expect(render({ prompt: "a", completion: "b", system: "" })).toBe(render({ prompt: "a", completion: "b" }));
    });

    it("a template that closes turns with plain text gets the EOT token", () => {
        const ex = tokenizeChatRow(toyModel, new GeneralChatWrapper(), { prompt: "Q", completion: "ok" }, 0);
        expect(targets(ex)).toEqual([..."ok"].map((c) => c.charCodeAt(0)).concat([1002]));
    });

    it("fails naming the row when the prompt's tokens are not a prefix of prompt + completion", () => {
        // "### Assistant\n" + "Four" merges into "\nF": the completion's first token is not on a boundary.
        const row = { prompt: "Q", completion: "Four" };
        expect(() => tokenizeChatRow(toyModel, new GeneralChatWrapper(), row, 6)).toThrow(
            /training row 7 \(prompt "Q"\).*not a prefix/,
        );
    });
});

/**
 * A model with a chat template: $SUBLAB_TEST_CHAT_MODEL (any GGUF, to try other templates), else a tiny
 * engine-made model with ChatML and an SPM vocabulary.
 */
function chatModel(): string {
    if (process.env.SUBLAB_TEST_CHAT_MODEL) return process.env.SUBLAB_TEST_CHAT_MODEL;
    const file = path.join(tempDir(), "chatml-tiny.gguf");
    const m = tinyModel();
    m.save(file);
    m.free();
    return file;
}
const chatModelPath = chatModel();

describe("tokenizeTrainingRows on a chat model", () => {
    let model: LlamaModel;
    beforeAll(async () => {
        const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
        model = await llama.loadModel({ modelPath: chatModelPath!, vocabOnly: true });
    });
    afterAll(async () => {
        await model?.dispose();
    });

    /** The tokens of a history rendered with the model's own template, built here independently. */
    function renderTokens(history: ChatHistoryItem[]): Token[] {
        const state = resolveChatWrapper(model).generateContextState({ chatHistory: history });
        return state.contextText.tokenize(model.tokenizer);
    }

    it.each([
        { prompt: "What is 2+2?", completion: "Four." },
        { prompt: "List three numbers.", completion: "4, 8, 15", system: "Answer with numbers only." },
    ])("masks only the completion and the end-of-turn token(s): %o", async (row) => {
        const [ex] = await tokenizeTrainingRows(chatModelPath!, [row]);
        const tokens = Array.from(ex!.tokens) as Token[];
        const first = ex!.targetMask.indexOf(1);
        expect(first).toBeGreaterThan(0);
        expect(Array.from(ex!.targetMask.slice(first)).every((m) => m === 1)).toBe(true);

        // The prompt part is exactly the template rendered up to the (empty) answer.
        const history: ChatHistoryItem[] = [];
        if (row.system !== undefined) history.push({ type: "system", text: row.system });
        history.push({ type: "user", text: row.prompt }, { type: "model", response: [] });
        const promptTokens = tokens.slice(0, first);
        expect(promptTokens).toEqual(renderTokens(history));

        // The targets are the completion, then end-of-turn special token(s) ending in an end-of-generation token.
        const masked = tokens.slice(first);
        const completionLength = masked.findIndex((t) => model.isSpecialToken(t));
        expect(completionLength).toBeGreaterThan(0);
        expect(model.detokenize(masked.slice(0, completionLength), false, promptTokens)).toBe(row.completion);
        expect(model.detokenize(masked, false, promptTokens)).toBe(row.completion);
        expect(model.detokenize(masked, true, promptTokens).startsWith(row.completion)).toBe(true);
        expect(masked.slice(completionLength).every((t) => model.isSpecialToken(t))).toBe(true);
        expect(model.isEogToken(masked[masked.length - 1])).toBe(true);

        // node-llama-cpp's default system prompt never sneaks in; the row's own does when given.
        const text = model.detokenize(tokens, true);
        expect(text).not.toContain("You are a helpful");
        if (row.system !== undefined) expect(text).toContain(row.system);
    });

    it("text rows: BOS when the model adds one, the text, EOS; all but the first token are targets", async () => {
        const [ex] = await tokenizeTrainingRows(chatModelPath!, [{ text: "hello world" }]);
        const tokens = Array.from(ex!.tokens) as Token[];
        expect(ex!.targetMask[0]).toBe(0);
        expect(Array.from(ex!.targetMask.slice(1)).every((m) => m === 1)).toBe(true);
        const expected = [
            ...(model.tokens.shouldPrependBosToken ? [model.tokens.bos!] : []),
            ...model.tokenize("hello world", false),
            ...(model.tokens.eos !== null ? [model.tokens.eos] : []),
        ];
        expect(tokens).toEqual(expected);
        expect(model.detokenize(tokens, false).trim()).toBe("hello world");
    });

    it("cuts long rows at the end and warns once with the count", async () => {
        const rows = [{ text: "one two three four five six seven eight nine ten" }, { text: "hi" }];
        const full = await tokenizeTrainingRows(chatModelPath!, rows);
        const maxTokens = full[0]!.tokens.length - 2;
        expect(full[1]!.tokens.length).toBeLessThanOrEqual(maxTokens);
        const warnings: string[] = [];
        const cut = await tokenizeTrainingRows(chatModelPath!, rows, { maxTokens, warn: (m) => warnings.push(m) });
        expect(warnings).toEqual([`1 of 2 training rows were longer than ${maxTokens} tokens and were cut at the end`]);
        expect(cut[0]!.tokens).toEqual(full[0]!.tokens.slice(0, maxTokens));
        expect(cut[0]!.targetMask).toEqual(full[0]!.targetMask.slice(0, maxTokens));
        expect(cut[1]).toEqual(full[1]);
    });

    it("leaves out (and counts) a chat row cut before its completion", async () => {
        const rows = [{ prompt: "Say the numbers.", completion: "one two three" }];
        const [full] = await tokenizeTrainingRows(chatModelPath!, rows);
        const promptLength = full!.targetMask.indexOf(1);
        const warnings: string[] = [];
        const cut = await tokenizeTrainingRows(chatModelPath!, rows, {
            maxTokens: promptLength,
            warn: (m) => warnings.push(m),
        });
        expect(cut).toEqual([]);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain("1 of them had no completion tokens left and were left out");
    });
});
