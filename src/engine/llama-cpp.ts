/**
 * node-llama-cpp as sublab's inference runtime: one binding per process, and chat prompts rendered with each
 * model's own template (so the embedded ChatML models and any user GGUF are prompted the way they were tuned).
 */
import fs from "node:fs";
import { readGGUF } from "./gguf.ts";
import os from "node:os";
import type { ChatHistoryItem, ChatWrapper, Llama, LlamaModel, Token } from "node-llama-cpp";

type NodeLlamaCpp = typeof import("node-llama-cpp");
let runtime: Promise<Llama> | undefined;
let loaded: NodeLlamaCpp | undefined;

/**
 * node-llama-cpp's module, imported on first use: importing it takes most of a second, which commands that
 * never chat (`sublab --help`, a workshop replay, exports, reports) should not wait for.
 */
export async function llamaModule(): Promise<NodeLlamaCpp> {
    loaded ??= await import("node-llama-cpp");
    return loaded;
}

/** The module once llamaModule (or getRuntime) has loaded it: any LlamaModel in hand means it has. */
export function loadedLlamaModule(): NodeLlamaCpp {
    if (!loaded) throw new Error("internal: node-llama-cpp used before getRuntime() loaded it");
    return loaded;
}

/**
 * One llama.cpp binding per process (each getLlama call registers exit hooks of its own). CPU unless
 * SUBLAB_GPU=auto, so that results do not depend on which machine happens to have a GPU.
 */
export function getRuntime(): Promise<Llama> {
    runtime ??= llamaModule().then(({ getLlama, LlamaLogLevel }) =>
        getLlama({
            gpu: process.env.SUBLAB_GPU === "auto" ? "auto" : false,
            build: "never",
            logLevel: LlamaLogLevel.error,
        }),
    );
    return runtime;
}

/**
 * A GGUF loaded into node-llama-cpp (vocabOnly: its tokenizer and chat template only), checked first by sublab's
 * own reader, so that a wrong file fails naming the file and what is wrong with it (a text file, a truncated
 * download) instead of node-llama-cpp's "Failed to load model".
 */
export async function loadRuntimeModel(modelPath: string, opts: { vocabOnly?: boolean } = {}): Promise<LlamaModel> {
    if (!fs.existsSync(modelPath)) throw new Error(`${modelPath}: no such model file`);
    readGGUF(modelPath); // throws naming the file: not a GGUF, truncated, a tensor past the end
    const llama = await getRuntime();
    try {
        return await llama.loadModel({ modelPath, vocabOnly: opts.vocabOnly });
    } catch (e) {
        throw new Error(`${modelPath}: llama.cpp could not load it (${(e as Error).message})`);
    }
}

/**
 * A model's tokenizer and chat template (node-llama-cpp, vocabOnly), kept for the process: evaluations and
 * students load the same few bases again and again (~0.3 s a load). Keyed by path, size and modification time;
 * the least recently used of more than VOCAB_CACHE is disposed. Callers do not dispose it.
 */
/** A model's trained context length: a vocab-only model reports 0 itself, so the file's metadata is read (512 when it has none). */
export const contextLength = (model: LlamaModel): number => model.trainContextSize || model.fileInsights.trainContextSize || 512;

export async function vocabModel(modelPath: string): Promise<LlamaModel> {
    const st = fs.statSync(modelPath);
    const key = `${modelPath}:${st.size}:${st.mtimeMs}`;
    let m = vocabCache.get(key);
    if (m) vocabCache.delete(key);
    else m = loadRuntimeModel(modelPath, { vocabOnly: true });
    vocabCache.set(key, m);
    m.catch(() => vocabCache.delete(key));
    while (vocabCache.size > VOCAB_CACHE) {
        const [oldKey, old] = vocabCache.entries().next().value!;
        vocabCache.delete(oldKey);
        void old.then((x) => x.dispose()).catch(() => undefined);
    }
    return m;
}

const vocabCache = new Map<string, Promise<LlamaModel>>();
const VOCAB_CACHE = 8;

export interface ChatPrompt {
    system?: string | null;
    /** Earlier turns, oldest first. */
    history?: { user: string; assistant: string }[];
    user: string;
}

const wrappers = new WeakMap<LlamaModel, ChatWrapper>();

/**
 * The tokens of a chat prompt up to where the assistant's answer begins, in the model's chat template; with
 * `answer`, the prompt followed by that (unfinished) answer.
 */
export function renderPrompt(model: LlamaModel, p: ChatPrompt, answer?: string): Token[] {
    let wrapper = wrappers.get(model);
    if (!wrapper) {
        wrapper = loadedLlamaModule().resolveChatWrapper(model);
        wrappers.set(model, wrapper);
    }
    const items: ChatHistoryItem[] = [];
    if (p.system) items.push({ type: "system", text: p.system });
    for (const h of p.history ?? []) items.push({ type: "user", text: h.user }, { type: "model", response: [h.assistant] });
    items.push({ type: "user", text: p.user }, { type: "model", response: answer === undefined ? [] : [answer] });
    return wrapper.generateContextState({ chatHistory: items }).contextText.tokenize(model.tokenizer);
}

/**
 * Threads for llama.cpp inference when the user sets none. A tiny model decodes a token in about a
 * millisecond, and there llama.cpp's thread synchronisation costs more than it saves: on the 2-core
 * reference machine a 5 MB model generates ~1,600 tok/s with 1 thread and ~90 with 2 (ENGINE.md saw the
 * same). Models above 100 MB get every core.
 */
export function inferenceThreads(modelPath: string, requested?: number): number {
    if (requested !== undefined) return requested;
    return fs.statSync(modelPath).size < 100e6 ? 1 : os.availableParallelism();
}
