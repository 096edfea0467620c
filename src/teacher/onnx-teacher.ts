/**
 * An ONNX backend through @huggingface/transformers (onnxruntime-node): a folder written by `sublab export-onnx`
 * (or any transformers.js causal LM folder) as an evaluator (exact P(answer starts with each item) under the
 * folder's own chat template), as a judge (P(yes) / (P(yes) + P(no)) of the first answer token) and as a
 * teacher (seeded generation with the coupled sampler).
 * transformers.js is a development dependency: it is loaded only when an ONNX folder is used.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChatPrompt } from "../engine/llama-cpp.ts";
import { logSoftmax } from "../engine/logits.ts";
import { generateRows, rowSeed, type RawRow, type RowSource, type RowsRequest } from "../core/rows.ts";
import { coupledPick } from "../engine/sampler.ts";
import { Interrupted } from "../util/interrupt.ts";
import { itemContinuations } from "../prompts/items.ts";
import { yesShare } from "../prompts/judge-prompts.ts";

interface Loaded {
    model: (inputs: Record<string, unknown>) => Promise<{ logits: { data: Float32Array; dims: number[] } }>;
    tokenizer: {
        encode(text: string): number[];
        apply_chat_template(messages: { role: string; content: string }[], opts: { tokenize: false; add_generation_prompt: boolean }): string;
    };
    Tensor: new (type: string, data: BigInt64Array, dims: number[]) => unknown;
}

async function load(dir: string): Promise<Loaded> {
    if (!fs.existsSync(path.join(dir, "onnx", "model.onnx")) || !fs.existsSync(path.join(dir, "config.json"))) {
        throw new Error(`${dir}: not an ONNX model folder (config.json and onnx/model.onnx; sublab export-onnx writes one)`);
    }
    let tjs: typeof import("@huggingface/transformers");
    try {
        tjs = await import("@huggingface/transformers");
    } catch {
        throw new Error("the ONNX backend needs @huggingface/transformers: npm install @huggingface/transformers@4.3.1");
    }
    tjs.env.allowRemoteModels = false;
    const model = await tjs.AutoModelForCausalLM.from_pretrained(path.resolve(dir), { device: "cpu", dtype: "fp32" });
    const tokenizer = await tjs.AutoTokenizer.from_pretrained(path.resolve(dir));
    return {
        model: model as unknown as Loaded["model"],
        tokenizer: tokenizer as unknown as Loaded["tokenizer"],
        Tensor: tjs.Tensor as unknown as Loaded["Tensor"],
    };
}

const messagesOf = (p: ChatPrompt) => [
    ...(p.system ? [{ role: "system", content: p.system }] : []),
    ...(p.history ?? []).flatMap((h) => [
        { role: "user", content: h.user },
        { role: "assistant", content: h.assistant },
    ]),
    { role: "user", content: p.user },
];

/** Next-token log-probabilities after a token sequence (one forward pass, no cache). */
async function nextLogProbs(m: Loaded, ids: number[]): Promise<Float64Array> {
    const t = (xs: number[]) => new m.Tensor("int64", BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
    const out = await m.model({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) });
    const V = out.logits.dims[2]!;
    return logSoftmax(out.logits.data.subarray((ids.length - 1) * V, ids.length * V));
}

/** The rendered prompt's tokens and each item's spelling continuations (the answer as the template renders it). */
function continuations(m: Loaded, p: ChatPrompt, items: string[]): { prompt: number[]; conts: number[][][] } {
    const text = m.tokenizer.apply_chat_template(messagesOf(p), { tokenize: false, add_generation_prompt: true });
    const prompt = m.tokenizer.encode(text);
    return { prompt, conts: items.map((item) => itemContinuations(prompt, item, (s) => m.tokenizer.encode(text + s))) };
}

/** Exact probabilities [prompt][item] that the answer begins with the item (summed over its spellings). */
export async function onnxItemProbs(dir: string, prompts: ChatPrompt[], items: string[]): Promise<number[][]> {
    const m = await load(dir);
    const cache = new Map<string, Float64Array>();
    const lp = async (ids: number[]) => {
        const key = ids.join(",");
        let v = cache.get(key);
        if (!v) cache.set(key, (v = await nextLogProbs(m, ids)));
        return v;
    };
    const out: number[][] = [];
    for (const p of prompts) {
        const { prompt, conts } = continuations(m, p, items);
        const row: number[] = [];
        for (const seqs of conts) {
            let sum = 0;
            for (const s of seqs) {
                let logp = 0;
                for (let j = 0; j < s.length; j++) logp += (await lp([...prompt, ...s.slice(0, j)]))[s[j]!]!;
                sum += Math.exp(logp);
            }
            row.push(sum);
        }
        out.push(row);
    }
    return out;
}

/** P(yes) / (P(yes) + P(no)) of the first answer token, for each question. */
export async function onnxJudge(dir: string, questions: string[]): Promise<number[]> {
    const probs = await onnxItemProbs(
        dir,
        questions.map((q) => ({ system: null, user: q })),
        ["yes", "no"],
    );
    return probs.map(([yes, no]) => yesShare(yes!, no!));
}

export interface OnnxGenerateJob extends RowsRequest {
    dir: string;
    /** A JSONL file rows are appended to as they finish; rows already in it are kept (a rerun resumes). */
    out?: string;
    signal?: AbortSignal;
}

/**
 * Teacher generation through an ONNX folder, with the coupled sampler of `generateRaw` (Gumbel-max noise
 * from (rowSeed(seed, i), position, token)): the same rows as llama.cpp's generation of the same model
 * wherever the two backends' distributions pick the same token, which they do up to float rounding. Each
 * step recomputes the whole sequence (no cache): fine for the embedded models, slow for large ones.
 */
export async function onnxGenerate(job: OnnxGenerateJob): Promise<RawRow[]> {
    const res = await generateRows(onnxSource(job.dir), job, job.out ?? null, job.signal);
    if (res.interrupted) throw new Interrupted("ONNX generation");
    return res.rows;
}

/** An ONNX folder as a row source (see onnxGenerate). */
export function onnxSource(dir: string): RowSource {
    return {
        generate: async (req, sink, signal) => {
            const m = await load(dir);
            const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as { eos_token_id?: number | number[] };
            const tc = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")) as { eos_token?: string };
            const stops = new Set<number>([config.eos_token_id ?? []].flat());
            // End-of-turn tokens: the tokenizer's EOS and the chat templates' turn ends, when the vocabulary has them.
            const added =
                (JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as { added_tokens?: { id: number; content: string }[] }).added_tokens ??
                [];
            for (const t of [tc.eos_token, "<|im_end|>", "<|eot_id|>", "<end_of_turn>"]) {
                const id = added.find((a) => a.content === t)?.id;
                if (id !== undefined) stops.add(id);
            }
            let sampled = 0;
            for (const i of sink.missing()) {
                if (signal?.aborted) break;
                const prompt = req.prompts[Math.floor(i / req.samplesPerPrompt)]!;
                const text = m.tokenizer.apply_chat_template(messagesOf({ system: req.system, user: prompt }), {
                    tokenize: false,
                    add_generation_prompt: true,
                });
                const ids = m.tokenizer.encode(text);
                const seed = rowSeed(req.seed, i);
                const tokens: number[] = [];
                const probs: number[] = [];
                let stop: RawRow["stop"] = "length";
                for (let pos = 0; pos < req.maxTokens; pos++) {
                    const lp = await nextLogProbs(m, [...ids, ...tokens]);
                    // Temperature as llama.cpp applies it: softmax(logits / T).
                    const tempered = logSoftmax(lp.map((v) => v / req.temperature));
                    const dist = new Map(Array.from(tempered, (v, k) => [k, Math.exp(v)] as const));
                    const token = coupledPick(dist, seed, pos);
                    if (stops.has(token)) {
                        stop = "eog";
                        break;
                    }
                    tokens.push(token);
                    probs.push(dist.get(token)!);
                }
                sampled += tokens.length + (stop === "eog" ? 1 : 0);
                const completion = (m.tokenizer as unknown as { decode(ids: number[], o: { skip_special_tokens: boolean }): string }).decode(tokens, {
                    skip_special_tokens: false,
                });
                sink.append({ i, prompt, system: req.system, completion, tokens, probs, stop });
            }
            return { tokens: sampled };
        },
    };
}
