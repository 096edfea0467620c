/**
 * Training data: JSONL rows in, token sequences with a loss mask out.
 *
 * A row is one of two shapes, one JSON object per line (blank lines are skipped):
 *   {"prompt": "List 3 numbers", "completion": "4, 8, 15"}               a chat turn (optional "system")
 *   {"text": "plain text to model"}                                       plain language modelling
 *
 * A chat row is rendered with the model's OWN chat template (node-llama-cpp's resolveChatWrapper on the
 * model), as a user turn followed by a model turn whose response is the completion. Only the completion
 * and the token(s) that close the model turn are trained: the model learns to answer and to stop, not to
 * predict the prompt. A system message is written only when the row has "system"; node-llama-cpp's long
 * default system prompt is never added.
 */
import fs from "node:fs";
import type { ChatHistoryItem, ChatWrapper, LlamaModel, LlamaModelTokens, LlamaText, Token } from "node-llama-cpp";
import { loadedLlamaModule, vocabModel } from "../engine/llama-cpp.ts";

/** Earlier turns of a chat row, before its prompt (in-context examples; only the last completion is trained). */
export type ChatTurn = { user: string; assistant: string };
export type ChatRow = { prompt: string; completion: string; system?: string; history?: ChatTurn[] };
export type TextRow = { text: string };
export type TrainRow = ChatRow | TextRow;

/** One tokenized training sequence (tokens + which of them are targets): the trainer's input. */
export type { TrainExample } from "./trainer-types.ts";
import type { TrainExample } from "./trainer-types.ts";

export interface TokenizeTrainingOptions {
    /**
     * Longest sequence in tokens; longer rows are cut at the end (a warning counts them).
     * Defaults to the model's training context length from the GGUF (`<arch>.context_length`).
     */
    maxTokens?: number;
    /** Where the one truncation warning goes. Defaults to `console.warn`. */
    warn?: (message: string) => void;
}

/**
 * What chat-row tokenization needs of a model: its tokenizer, its end-of-generation test and its EOT/EOS
 * tokens. A loaded LlamaModel is one; tests pass a small fake.
 */
export type ChatTokenizerModel = Pick<LlamaModel, "tokenizer" | "isEogToken"> & {
    tokens: Pick<LlamaModelTokens, "eot" | "eos">;
};

const CHAT_KEYS = new Set(["prompt", "completion", "system", "history"]);

/**
 * Parses JSONL text into rows; `source` names the file in errors, which read
 * `${source}:${lineNumber}: <what is wrong>`.
 */
export function parseTrainingJsonl(text: string, source: string): TrainRow[] {
    const rows: TrainRow[] = [];
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line.trim() === "") continue;
        try {
            rows.push(parseTrainingRow(line));
        } catch (err) {
            throw new Error(`${source}:${i + 1}: ${(err as Error).message}`);
        }
    }
    if (rows.length === 0) throw new Error(`${source}: no rows (the file is empty or only blank lines)`);
    return rows;
}

/** Reads a JSONL training file; see {@link parseTrainingJsonl} for the row shapes and errors. */
export function readTrainingJsonl(path: string): TrainRow[] {
    let text: string;
    try {
        text = fs.readFileSync(path, "utf8");
    } catch (err) {
        throw new Error(`${path}: cannot read training data (${(err as Error).message})`);
    }
    return parseTrainingJsonl(text, path);
}

/** Checks one JSONL line; throws an Error saying what is wrong (without the file and line prefix). */
export function parseTrainingRow(line: string): TrainRow {
    let value: unknown;
    try {
        value = JSON.parse(line);
    } catch (err) {
        throw new Error(`invalid JSON (${(err as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new Error(`expected a JSON object, got ${describeJsonType(value)}`);
    }
    const obj = value as Record<string, unknown>;
    if ("text" in obj) {
        if ("prompt" in obj || "completion" in obj) {
            throw new Error(`a row has either "text" or "prompt"/"completion", not both`);
        }
        rejectUnknownKeys(obj, new Set(["text"]));
        return { text: requireNonBlankString(obj, "text") };
    }
    rejectUnknownKeys(obj, CHAT_KEYS);
    if (!("prompt" in obj) && !("completion" in obj)) {
        throw new Error(`expected {"prompt", "completion"} or {"text"}, got neither`);
    }
    const row: ChatRow = {
        prompt: requireNonBlankString(obj, "prompt"),
        completion: requireNonBlankString(obj, "completion"),
    };
    if ("system" in obj) {
        if (typeof obj.system !== "string") {
            throw new Error(`"system" must be a string, got ${describeJsonType(obj.system)}`);
        }
        row.system = obj.system;
    }
    if ("history" in obj) row.history = parseHistory(obj.history);
    return row;
}

/** A row's "history": an array of {"user", "assistant"} turns, each a non-blank string. */
function parseHistory(v: unknown): ChatTurn[] {
    if (!Array.isArray(v)) throw new Error(`"history" must be an array of {"user", "assistant"} turns, got ${describeJsonType(v)}`);
    return v.map((turn, k) => {
        if (typeof turn !== "object" || turn === null || Array.isArray(turn)) {
            throw new Error(`"history"[${k}] must be an object {"user", "assistant"}, got ${describeJsonType(turn)}`);
        }
        const t = turn as Record<string, unknown>;
        for (const key of Object.keys(t))
            if (key !== "user" && key !== "assistant") throw new Error(`"history"[${k}]: unknown key ${JSON.stringify(key)} (a turn is {"user", "assistant"})`);
        try {
            return { user: requireNonBlankString(t, "user"), assistant: requireNonBlankString(t, "assistant") };
        } catch (err) {
            throw new Error(`"history"[${k}]: ${(err as Error).message}`);
        }
    });
}

function rejectUnknownKeys(obj: Record<string, unknown>, allowed: Set<string>): void {
    for (const key of Object.keys(obj)) {
        if (!allowed.has(key)) {
            throw new Error(`unknown key ${JSON.stringify(key)} (a row is {"prompt", "completion", "system"?, "history"?} or {"text"})`);
        }
    }
}

function requireNonBlankString(obj: Record<string, unknown>, key: string): string {
    if (!(key in obj)) throw new Error(`missing "${key}"`);
    const v = obj[key];
    if (typeof v !== "string") throw new Error(`"${key}" must be a string, got ${describeJsonType(v)}`);
    if (v.trim() === "") throw new Error(`empty "${key}"`);
    return v;
}

function describeJsonType(v: unknown): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "an array";
    return `a ${typeof v}`;
}

/**
 * The chat histories a chat row is rendered from:
 * - `prompt`: the user turn and an empty model turn: the template up to where the answer starts;
 * - `full`: the model turn holding the completion (templates leave the LAST model turn open);
 * - `closed`: `full` followed by another user turn, so the template writes what closes the model turn.
 * A system message comes first only when the row has `system`.
 */
export function formatChatForTraining(row: ChatRow): {
    prompt: ChatHistoryItem[];
    full: ChatHistoryItem[];
    closed: ChatHistoryItem[];
} {
    const head: ChatHistoryItem[] = [];
    if (row.system !== undefined) head.push({ type: "system", text: row.system });
    for (const t of row.history ?? []) head.push({ type: "user", text: t.user }, { type: "model", response: [t.assistant] });
    head.push({ type: "user", text: row.prompt });
    const full: ChatHistoryItem[] = [...head, { type: "model", response: [row.completion] }];
    return {
        prompt: [...head, { type: "model", response: [] }],
        full,
        closed: [...full, { type: "user", text: "Next." }],
    };
}

/**
 * Tokenizes rows for training with the tokenizer and chat template of the GGUF at `modelPath` (loaded
 * vocab-only). Text rows: BOS (when the model prepends one) + text + EOS (when the model has one), every
 * token after the first a target. Chat rows: see the module comment; the boundary between prompt and
 * completion is checked to be a token boundary, and a row where it is not fails naming the row.
 */
export async function tokenizeTrainingRows(modelPath: string, rows: TrainRow[], opts: TokenizeTrainingOptions = {}): Promise<TrainExample[]> {
    const model = await vocabModel(modelPath);
    const maxTokens = resolveMaxTokens(model, modelPath, opts.maxTokens);
    let chatWrapper: ChatWrapper | undefined;
    const examples: TrainExample[] = [];
    let truncated = 0;
    let dropped = 0;
    for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        let example: TrainExample;
        if ("text" in row) {
            example = tokenizeTextRow(model, row.text);
        } else {
            chatWrapper ??= loadedLlamaModule().resolveChatWrapper(model);
            example = tokenizeChatRow(model, chatWrapper, row, i);
        }
        if (example.tokens.length > maxTokens) {
            truncated++;
            example = {
                tokens: example.tokens.slice(0, maxTokens),
                targetMask: example.targetMask.slice(0, maxTokens),
            };
            // A row cut inside its prompt has nothing left to learn from; an all-zero mask would only
            // dilute a batch, so it is left out (and counted).
            if (!example.targetMask.includes(1)) {
                dropped++;
                continue;
            }
        }
        examples.push(example);
    }
    if (truncated > 0) {
        (opts.warn ?? console.warn)(
            `${truncated} of ${rows.length} training rows were longer than ${maxTokens} tokens ` +
                `and were cut at the end` +
                (dropped > 0 ? `; ${dropped} of them had no completion tokens left and were left out` : ""),
        );
    }
    return examples;
}

function resolveMaxTokens(model: LlamaModel, modelPath: string, requested: number | undefined): number {
    // A vocab-only model reports trainContextSize 0, so the GGUF metadata is read as well.
    const fromModel = model.trainContextSize || model.fileInsights.trainContextSize;
    const maxTokens = requested ?? fromModel;
    if (maxTokens === undefined || !Number.isInteger(maxTokens) || maxTokens < 2) {
        const hint = requested === undefined ? ` (${modelPath} has no usable context length; pass maxTokens)` : "";
        throw new Error(`maxTokens must be an integer >= 2, got ${maxTokens}${hint}`);
    }
    return maxTokens;
}

function tokenizeTextRow(model: LlamaModel, text: string): TrainExample {
    const tokens: Token[] = [];
    if (model.tokens.shouldPrependBosToken && model.tokens.bos !== null) tokens.push(model.tokens.bos);
    tokens.push(...model.tokenize(text, false));
    if (model.tokens.eos !== null) tokens.push(model.tokens.eos);
    const targetMask = new Uint8Array(tokens.length).fill(1);
    targetMask[0] = 0;
    return { tokens: Int32Array.from(tokens), targetMask };
}

/**
 * Renders a chat row with the model's template and masks everything but the completion and the
 * end-of-turn token(s). `rowIndex` (0-based) names the row in errors.
 */
export function tokenizeChatRow(model: ChatTokenizerModel, chatWrapper: ChatWrapper, row: ChatRow, rowIndex: number): TrainExample {
    const histories = formatChatForTraining(row);
    const render = (chatHistory: ChatHistoryItem[]) => chatWrapper.generateContextState({ chatHistory });
    const tokenize = (text: LlamaText) => text.tokenize(model.tokenizer);
    const prompt = tokenize(render(histories.prompt).contextText);
    const fullState = render(histories.full);
    const full = tokenize(fullState.contextText);
    if (!isTokenPrefix(prompt, full) || full.length === prompt.length) {
        throw new Error(
            `training row ${rowIndex + 1} (prompt ${JSON.stringify(truncateForMessage(row.prompt))}): ` +
                `with the ${chatWrapper.wrapperName} chat template the prompt's tokens are not a prefix of ` +
                `prompt + completion, so the completion's tokens cannot be told apart ` +
                `(often whitespace at the start of the completion, or a template that renders the last answer ` +
                `differently, e.g. with a thinking block)`,
        );
    }
    const closed = tokenize(render(histories.closed).contextText);
    const triggers = fullState.stopGenerationTriggers;
    const endOfTurn = findEndOfTurnTokens(model, chatWrapper.wrapperName, full, closed, triggers);
    const tokens = Int32Array.from([...full, ...endOfTurn]);
    const targetMask = new Uint8Array(tokens.length);
    targetMask.fill(1, prompt.length);
    return { tokens, targetMask };
}

/**
 * The token(s) that close the model turn, i.e. what the model must emit so that generation stops.
 * Templates leave the last model turn open, so `closed` is the history rendered again with a user turn
 * after the completion, and the shortest of the template's stop triggers made only of special tokens (`<|im_end|>`,
 * `<|eot_id|>`, `</s>`...) that follows the completion there is the answer. Special tokens never merge
 * with the text before them, so this is found the same way in every row. Templates that close a turn
 * with plain text (node-llama-cpp's General wrapper for a model without a chat template: "\n\n### Human")
 * get the model's EOT token, else its EOS token, in every row instead: both are end-of-generation tokens,
 * on which node-llama-cpp and llama.cpp stop generating.
 */
function findEndOfTurnTokens(model: ChatTokenizerModel, wrapperName: string, full: Token[], closed: Token[], stopTriggers: readonly LlamaText[]): Token[] {
    if (isTokenPrefix(full, closed)) {
        const tail = closed.slice(full.length);
        let best: Token[] | undefined;
        for (const trigger of stopTriggers) {
            if (trigger.values.some((v) => typeof v === "string")) continue; // plain text, not a special token
            const t = trigger.tokenize(model.tokenizer);
            if (t.length > 0 && isTokenPrefix(t, tail) && (best === undefined || t.length < best.length)) best = t;
        }
        if (best !== undefined) return best;
        if (tail.length > 0 && model.isEogToken(tail[0])) return [tail[0]!];
    }
    const fallback = model.tokens.eot ?? model.tokens.eos;
    if (fallback === null) {
        throw new Error(
            `the ${wrapperName} chat template closes a turn with no special token, ` + `and the model has no EOT or EOS token to end a completion with`,
        );
    }
    return [fallback];
}

function isTokenPrefix(prefix: readonly Token[], tokens: readonly Token[]): boolean {
    if (prefix.length > tokens.length) return false;
    for (let i = 0; i < prefix.length; i++) if (prefix[i] !== tokens[i]) return false;
    return true;
}

function truncateForMessage(text: string, max = 60): string {
    return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** The positions whose next token is a target (j - 1 for every target token j >= 1), in order. */
export function targetPositions(e: TrainExample): number[] {
    const ps: number[] = [];
    for (let j = 1; j < e.tokens.length; j++) if (e.targetMask[j]) ps.push(j - 1);
    return ps;
}
