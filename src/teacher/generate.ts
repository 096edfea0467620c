/**
 * Generation from a local GGUF (optionally with a LoRA adapter and a trait system prompt): on sublab's engine,
 * many rows decoded in one graph per step, or on llama.cpp, many sequences in one context. Both are row sources
 * (src/core/rows.ts) writing through the resumable row sink, with the probability the teacher gave each token it
 * sampled (defenses such as threshold sampling need them). Also sampled chat answers (sampleChats) for
 * evaluation and defenses.
 */
import type { LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { generateRows, rowSeed, type GenerateResult, type RawRow, type RowSource, type RowsRequest } from "../core/rows.ts";
import { engineUnsupported } from "../engine/model.ts";
import { coupledPick } from "../engine/sampler.ts";
import { loadRuntimeModel, inferenceThreads, renderPrompt } from "../engine/llama-cpp.ts";
import { engineRows, type EngineRowsJob } from "./engine-rows.ts";
import type { GenerationBackend, GenerateJob } from "../core/jobs.ts";
export type { GenerationBackend, GenerateJob };

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
            return await use(
                model,
                Array.from({ length: n }, () => context.getSequence()),
            );
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}

/**
 * Generates the rows of a job, resuming its file: on the engine when it runs the model (pickBackend), else on
 * llama.cpp.
 */
export function generateRaw(job: GenerateJob): Promise<GenerateResult> {
    const source = pickBackend(job.model, job.backend) === "engine" ? engineSource(job) : llamaSource(job);
    return generateRows(source, job, job.out, job.signal);
}

/** How a local GGUF's rows are decoded (the rest of a GenerateJob is the request). */
export type LocalDecoding = Omit<GenerateJob, keyof RowsRequest | "out" | "signal">;

/**
 * llama.cpp's rows. Rows are decoded in chunks of `parallel` consecutive indices (the chunk is the batch), so a
 * row is decoded beside the same neighbours in every run; a chunk that was cut short by an interruption is
 * generated again whole. (Within a chunk, which sequences share a decode step still depends on timing, so the
 * stored probabilities can differ in the 4th digit between runs; the sampled tokens did not in any run measured.)
 */
export function llamaSource(job: LocalDecoding): RowSource {
    const P = Math.max(1, job.parallel);
    const chunkSize = (c: number, total: number) => Math.min(P, total - c * P);
    return {
        // Only the rows of whole chunks (and no duplicate), so that the file holds whole chunks only.
        keepOnResume: (found, total) => {
            const byChunk = new Map<number, Map<number, RawRow>>();
            for (const r of found) {
                const c = Math.floor(r.i / P);
                if (!byChunk.has(c)) byChunk.set(c, new Map());
                byChunk.get(c)!.set(r.i, r);
            }
            return [...byChunk].flatMap(([c, rows]) => (rows.size === chunkSize(c, total) ? [...rows.values()] : []));
        },
        generate: async (req, sink, signal) => {
            const total = sink.total;
            const chunks: number[] = [];
            for (let c = 0; c * P < total; c++) if (!sink.has(c * P)) chunks.push(c);
            let tokens = 0;
            await withSequences(
                job,
                Math.min(P, total),
                () => 0,
                async (model, sequences) => {
                    const promptTokens = new Map<string, Token[]>();
                    const render = (prompt: string) => {
                        let t = promptTokens.get(prompt);
                        if (!t) promptTokens.set(prompt, (t = renderPrompt(model, { system: req.system, history: req.history, user: prompt })));
                        return t;
                    };
                    for (const c of chunks) {
                        if (signal?.aborted) break;
                        await Promise.all(
                            Array.from({ length: chunkSize(c, total) }, async (_, k) => {
                                const i = c * P + k;
                                const prompt = req.prompts[Math.floor(i / req.samplesPerPrompt)]!;
                                const row = await sampleRow(model, sequences[k]!, render(prompt), { ...req, sampler: job.sampler }, rowSeed(req.seed, i));
                                sink.append({ i, prompt, system: req.system, ...row });
                                tokens += row.tokens.length + (row.stop === "eog" ? 1 : 0);
                            }),
                        );
                    }
                },
            );
            return { tokens };
        },
    };
}

/** The engine's batch: rows are independent of their neighbours there, so a large batch costs nothing but memory. */
export const ENGINE_BATCH = 128;

/** The engine's rows: a row does not depend on which rows were decoded beside it, so a rerun generates only the missing indices. */
export function engineSource(job: LocalDecoding): RowSource {
    return {
        generate: async (req, sink, signal) => {
            const res = await engineRows({
                model: job.model,
                lora: job.lora,
                prompts: req.prompts.map((user) => ({ system: req.system, history: req.history, user })),
                samplesPerPrompt: req.samplesPerPrompt,
                temperature: req.temperature,
                maxTokens: req.maxTokens,
                seedOf: (i) => rowSeed(req.seed, i),
                sampler: job.sampler === "llama.cpp" ? "plain" : "coupled",
                batch: Math.max(ENGINE_BATCH, job.parallel),
                threads: job.threads,
                skip: (i) => sink.has(i),
                signal,
                onRow: (r) =>
                    sink.append({
                        i: r.i,
                        prompt: req.prompts[Math.floor(r.i / req.samplesPerPrompt)]!,
                        system: req.system,
                        completion: r.completion,
                        tokens: r.tokens,
                        probs: r.probs,
                        stop: r.stop,
                    }),
            });
            return { tokens: res.tokens };
        },
    };
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
