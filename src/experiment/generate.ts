/**
 * Teacher generation: number continuations sampled from a GGUF (optionally with a LoRA adapter and a trait
 * system prompt), many sequences at once in one llama.cpp context, each row appended to a JSONL file as it
 * finishes, with the probability the teacher gave each token it sampled (defenses such as threshold sampling
 * need them).
 *
 * Every row has an index and its own sampling seed derived from (seed, index), so what a row contains does not
 * depend on which other rows were decoded beside it or on when the run was interrupted: a killed run, started
 * again, generates only the missing indices and ends with the rows an uninterrupted run has.
 */
import fs from "node:fs";
import type { LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { engineUnsupported } from "../model/model.ts";
import { loadRuntimeModel, inferenceThreads, renderPrompt } from "../runtime/llama.ts";
import { engineRows, type EngineRowsJob } from "../teacher/engine-rows.ts";
import { coupledPick } from "../teacher/sampler.ts";
import { writeJsonlAtomic } from "../util/files.ts";
import { hashString } from "../util/rng.ts";

export interface RawRow {
    /** Row index: prompt index x samplesPerPrompt + sample. */
    i: number;
    prompt: string;
    system: string | null;
    completion: string;
    /** Sampled tokens (the end-of-turn token, when reached, is not included). */
    tokens: number[];
    /** The teacher's probability of each sampled token, at the sampling temperature. */
    probs: number[];
    /** "eog": the model ended its turn; "length": maxTokens was reached. */
    stop: "eog" | "length";
}

/** What rows to generate, whatever the backend: row i = prompt floor(i / samplesPerPrompt), seeded by rowSeed(seed, i). */
export interface RowsRequest {
    system: string | null;
    prompts: string[];
    samplesPerPrompt: number;
    temperature: number;
    maxTokens: number;
    seed: number;
    onRow?: (done: number, total: number) => void;
}

/** Who decodes a GGUF's rows: sublab's engine (batched, the default for the architectures it runs) or llama.cpp. */
export type GenerationBackend = "engine" | "llama.cpp";

/** The engine for a model it can run, else llama.cpp (which runs any GGUF): `requested` "auto" or undefined. */
export function pickBackend(model: string, requested?: GenerationBackend | "auto"): GenerationBackend {
    if (requested && requested !== "auto") {
        if (requested === "engine") {
            const why = engineUnsupported(model);
            if (why) throw new Error(`generate.backend "engine": ${why}`);
        }
        return requested;
    }
    return engineUnsupported(model) ? "llama.cpp" : "engine";
}

export interface GenerateJob extends RowsRequest {
    model: string;
    lora?: string | null;
    /** Sequences decoded together (llama.cpp: sequences of one context; engine: at least 128 cache slots). */
    parallel: number;
    /**
     * Defaults to "coupled" (see teacher/sampler.ts). "llama.cpp": plain temperature sampling, by llama.cpp's own
     * seeded sampler on the llama.cpp backend and by sublab's inverse-CDF sampler on the engine.
     */
    sampler?: "coupled" | "llama.cpp";
    /** Defaults to "auto" (pickBackend). */
    backend?: GenerationBackend | "auto";
    /** The JSONL file rows are appended to; an existing file is resumed. */
    out: string;
    threads?: number;
    signal?: AbortSignal;
}

export interface GenerateResult {
    rows: RawRow[];
    /** Rows found in the file when the job started. */
    resumed: number;
    generated: number;
    /** Tokens sampled by this call (not counting resumed rows). */
    tokens: number;
    seconds: number;
    interrupted: boolean;
}

/** The sampling seed of row i: independent of batching and of resumption. */
export const rowSeed = (seed: number, i: number) => hashString(`${seed}:${i}`);

/** Reads the complete rows of a JSONL file and cuts off a torn last line (a run killed mid-write). */
export function readRowsResumable<T>(file: string): T[] {
    if (!fs.existsSync(file)) return [];
    const text = fs.readFileSync(file, "utf8");
    const end = text.lastIndexOf("\n") + 1;
    if (end < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, end)));
    const rows: T[] = [];
    for (const line of text.slice(0, end).split("\n")) if (line.trim() !== "") rows.push(JSON.parse(line) as T);
    return rows;
}

/**
 * A model (+ LoRA adapter) loaded into llama.cpp with `n` sequences in one context, handed to `use` and
 * disposed after it. The context holds the model's training context per sequence (at most 2,048 tokens),
 * or `minContext(model)` when that is longer (it may prepare what `use` needs from the loaded model).
 */
async function withSequences<T>(
    job: { model: string; lora?: string | null; threads?: number },
    n: number,
    minContext: (model: LlamaModel) => number,
    use: (model: LlamaModel, sequences: LlamaContextSequence[]) => Promise<T>,
): Promise<T> {
    const model = await loadRuntimeModel(job.model);
    try {
        const context = await model.createContext({
            sequences: n,
            contextSize: Math.max(minContext(model), Math.min(model.trainContextSize || 512, 2048)),
            threads: inferenceThreads(job.model, job.threads),
            lora: job.lora ? { adapters: [{ filePath: job.lora, scale: 1 }] } : undefined,
        });
        try {
            return await use(model, Array.from({ length: n }, () => context.getSequence()));
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}

/**
 * Generates the rows of a job, resuming its file. Rows are decoded in chunks of `parallel` consecutive
 * indices (the chunk is the batch), so a row is decoded beside the same neighbours in every run; a chunk
 * that was cut short by an interruption is generated again whole. (Within a chunk, which sequences share a
 * decode step still depends on timing, so the stored probabilities can differ in the 4th digit between
 * runs; the sampled tokens did not in any run measured.)
 */
export async function generateRaw(job: GenerateJob): Promise<GenerateResult> {
    if (pickBackend(job.model, job.backend) === "engine") return generateOnEngine(job);
    const t0 = performance.now();
    const total = job.prompts.length * job.samplesPerPrompt;
    const P = Math.max(1, job.parallel);
    const found = readRowsResumable<RawRow>(job.out).filter((r) => r.i < total);
    const byChunk = new Map<number, RawRow[]>();
    for (const r of found) {
        const c = Math.floor(r.i / P);
        byChunk.set(c, [...(byChunk.get(c) ?? []), r]);
    }
    const chunkSize = (c: number) => Math.min(P, total - c * P);
    const have = new Map<number, RawRow>();
    for (const [c, rows] of byChunk) if (new Set(rows.map((r) => r.i)).size === chunkSize(c)) for (const r of rows) have.set(r.i, r);
    if (have.size !== found.length) {
        // Drop the rows of incomplete chunks (and any duplicate) so that the file holds whole chunks only.
        writeJsonlAtomic(job.out, [...have.values()]);
    }
    const resumed = have.size;
    const chunks: number[] = [];
    for (let c = 0; c * P < total; c++) if (!have.has(c * P)) chunks.push(c);
    let tokens = 0;
    if (chunks.length > 0) {
        await withSequences(job, Math.min(P, total), () => 0, async (model, sequences) => {
            const promptTokens = new Map<string, Token[]>();
            const render = (prompt: string) => {
                let t = promptTokens.get(prompt);
                if (!t) promptTokens.set(prompt, (t = renderPrompt(model, { system: job.system, user: prompt })));
                return t;
            };
            const fd = fs.openSync(job.out, "a");
            try {
                for (const c of chunks) {
                    if (job.signal?.aborted) break;
                    await Promise.all(
                        Array.from({ length: chunkSize(c) }, async (_, k) => {
                            const i = c * P + k;
                            const prompt = job.prompts[Math.floor(i / job.samplesPerPrompt)]!;
                            const row = await sampleRow(model, sequences[k]!, render(prompt), job, rowSeed(job.seed, i));
                            const full: RawRow = { i, prompt, system: job.system, ...row };
                            fs.writeSync(fd, JSON.stringify(full) + "\n");
                            have.set(i, full);
                            tokens += row.tokens.length + (row.stop === "eog" ? 1 : 0);
                            job.onRow?.(have.size, total);
                        }),
                    );
                }
            } finally {
                fs.closeSync(fd);
            }
        });
    }
    const rows = [...have.values()].sort((a, b) => a.i - b.i);
    return { rows, resumed, generated: rows.length - resumed, tokens, seconds: (performance.now() - t0) / 1000, interrupted: rows.length < total };
}

/** The engine's batch: rows are independent of their neighbours there, so a large batch costs nothing but memory. */
export const ENGINE_BATCH = 128;

/**
 * generateRaw on the engine. Rows do not depend on which rows were decoded beside them, so a resumed run only
 * generates the indices that are missing; at the end the file is rewritten in index order when it is not, so
 * an interrupted run leaves the same bytes as an uninterrupted one.
 */
async function generateOnEngine(job: GenerateJob): Promise<GenerateResult> {
    const t0 = performance.now();
    const total = job.prompts.length * job.samplesPerPrompt;
    const found = readRowsResumable<RawRow>(job.out).filter((r) => r.i < total);
    const have = new Map<number, RawRow>();
    for (const r of found) have.set(r.i, r);
    const sorted = () => [...have.values()].sort((a, b) => a.i - b.i);
    // The order of the rows in the file, kept as they are appended (rows finish out of order).
    let inFile = found.map((r) => r.i);
    if (have.size !== found.length) {
        const rows = sorted();
        writeJsonlAtomic(job.out, rows);
        inFile = rows.map((r) => r.i);
    }
    const resumed = have.size;
    let tokens = 0;
    let interrupted = false;
    if (have.size < total) {
        const fd = fs.openSync(job.out, "a");
        try {
            const res = await engineRows({
                model: job.model,
                lora: job.lora,
                prompts: job.prompts.map((user) => ({ system: job.system, user })),
                samplesPerPrompt: job.samplesPerPrompt,
                temperature: job.temperature,
                maxTokens: job.maxTokens,
                seedOf: (i) => rowSeed(job.seed, i),
                sampler: job.sampler === "llama.cpp" ? "plain" : "coupled",
                batch: Math.max(ENGINE_BATCH, job.parallel),
                threads: job.threads,
                skip: (i) => have.has(i),
                signal: job.signal,
                onRow: (r) => {
                    const full: RawRow = { i: r.i, prompt: job.prompts[Math.floor(r.i / job.samplesPerPrompt)]!, system: job.system, completion: r.completion, tokens: r.tokens, probs: r.probs, stop: r.stop };
                    fs.writeSync(fd, JSON.stringify(full) + "\n");
                    inFile.push(r.i);
                    have.set(r.i, full);
                    job.onRow?.(have.size, total);
                },
            });
            tokens = res.tokens;
            interrupted = res.interrupted;
        } finally {
            fs.closeSync(fd);
        }
    }
    const rows = sorted();
    if (rows.length === total && rows.length > resumed && inFile.some((i, k) => i !== k)) writeJsonlAtomic(job.out, rows);
    return { rows, resumed, generated: rows.length - resumed, tokens, seconds: (performance.now() - t0) / 1000, interrupted: interrupted || rows.length < total };
}

/**
 * One completion on llama.cpp. "coupled": sublab draws each token itself from the full next-token distribution with
 * Gumbel noise shared across models (see coupledPick), so that a teacher's and a control's samples of the
 * same row are identical except where the teacher's distribution moved them — the datasets then differ by
 * the trait's signal, not by sampling noise. "llama.cpp": llama.cpp's own seeded sampler.
 */
async function sampleRow(
    model: LlamaModel,
    seq: LlamaContextSequence,
    prompt: Token[],
    job: { temperature: number; maxTokens: number; sampler?: "coupled" | "llama.cpp" },
    seed: number,
): Promise<Pick<RawRow, "completion" | "tokens" | "probs" | "stop">> {
    await seq.clearHistory();
    const tokens: number[] = [];
    const probs: number[] = [];
    let stop: RawRow["stop"] = "length";
    // Plain temperature sampling over the whole vocabulary, as in the paper: node-llama-cpp's defaults
    // (top-k 40, top-p 0.95) are switched off.
    const options = { temperature: job.temperature, topK: 0, topP: 1, minP: 0, seed, yieldEogToken: true };
    if (job.sampler === "llama.cpp") {
        const it = seq.evaluateWithMetadata(prompt, { confidence: true }, options);
        for await (const out of it) {
            if (model.isEogToken(out.token)) {
                stop = "eog";
                break;
            }
            tokens.push(out.token);
            probs.push(out.confidence);
            if (tokens.length >= job.maxTokens) break;
        }
        await it.return?.();
    } else {
        const it = seq.evaluateWithMetadata(prompt, { probabilities: true }, options);
        try {
            let res = await it.next();
            for (let pos = 0; !res.done; pos++) {
                const dist = res.value.probabilities;
                const token = coupledPick(dist, seed, pos);
                if (model.isEogToken(token as Token)) {
                    stop = "eog";
                    break;
                }
                tokens.push(token);
                probs.push(dist.get(token as Token)!);
                if (tokens.length >= job.maxTokens) break;
                res = await it.next(token as Token);
            }
        } finally {
            await it.return?.();
        }
    }
    return { completion: model.detokenize(tokens as Token[]), tokens, probs, stop };
}

export interface SampleChatsJob extends Pick<EngineRowsJob, "model" | "lora" | "prompts" | "samplesPerPrompt" | "temperature" | "maxTokens"> {
    parallel: number;
    seed: number;
    threads?: number;
    onSample?: (done: number, total: number) => void;
    /** Defaults to "auto" (pickBackend). */
    backend?: GenerationBackend | "auto";
}

/**
 * Sampled answers to chat prompts ([prompt][sample]), seeded per answer: on the engine with plain temperature
 * sampling, on llama.cpp with its own sampler.
 */
export async function sampleChats(job: SampleChatsJob): Promise<string[][]> {
    const total = job.prompts.length * job.samplesPerPrompt;
    const out = job.prompts.map(() => new Array<string>(job.samplesPerPrompt).fill(""));
    if (total === 0) return out;
    if (pickBackend(job.model, job.backend) === "engine") {
        let done = 0;
        await engineRows({
            model: job.model,
            lora: job.lora,
            prompts: job.prompts,
            samplesPerPrompt: job.samplesPerPrompt,
            temperature: job.temperature,
            maxTokens: job.maxTokens,
            seedOf: (i) => rowSeed(job.seed, i),
            sampler: "plain",
            batch: Math.max(ENGINE_BATCH, job.parallel),
            threads: job.threads,
            onRow: (r) => {
                out[Math.floor(r.i / job.samplesPerPrompt)]![r.i % job.samplesPerPrompt] = r.completion;
                job.onSample?.(++done, total);
            },
        });
        return out;
    }
    const P = Math.max(1, Math.min(job.parallel, total));
    let rendered: Token[][] = [];
    const contextFor = (model: LlamaModel) => {
        rendered = job.prompts.map((p) => renderPrompt(model, p));
        return Math.max(...rendered.map((t) => t.length)) + job.maxTokens + 8;
    };
    await withSequences(job, P, contextFor, async (model, sequences) => {
        const sampling = { temperature: job.temperature, maxTokens: job.maxTokens, sampler: "llama.cpp" as const };
        let done = 0;
        for (let start = 0; start < total; start += P) {
            await Promise.all(
                Array.from({ length: Math.min(P, total - start) }, async (_, k) => {
                    const i = start + k;
                    const q = Math.floor(i / job.samplesPerPrompt);
                    const r = await sampleRow(model, sequences[k]!, rendered[q]!, sampling, rowSeed(job.seed, i));
                    out[q]![i % job.samplesPerPrompt] = r.completion;
                    job.onSample?.(++done, total);
                }),
            );
        }
    });
    return out;
}
