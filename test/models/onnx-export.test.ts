/** sublab export-onnx: the folder loads in @huggingface/transformers and gives llama.cpp's next-token probabilities. */
import fs from "node:fs";
import path from "node:path";
import { AutoModelForCausalLM, AutoTokenizer, env, Tensor } from "@huggingface/transformers";
import { describe, expect, it } from "vitest";
import { exportOnnx } from "../../src/export/onnx.ts";
import { onnxGenerate, onnxItemProbs, onnxJudge } from "../../src/teacher/onnx-teacher.ts";
import { generateRaw } from "../../src/teacher/generate.ts";
import { runExperiment, type DatasetManifest, type RunResult } from "../../src/studies/experiment.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { numbersPrompt } from "../../src/prompts/corpus.ts";
import { exactItemProbs } from "../../src/evaluate/evaluate.ts";
import { modelEnv } from "../../src/data/model-env.ts";
import { applyStages } from "../../src/data/filter-stages.ts";
import { ALL_LORA_TARGETS } from "../../src/engine/model-config.ts";
import { getRuntime } from "../../src/engine/llama-cpp.ts";
import { loadModel } from "../../src/engine/model.ts";
import { Rng } from "../../src/util/rng.ts";
import { llamaCppNextLogProbs } from "../helpers/llamacpp.ts";
import { tempDir, tinyModel } from "../helpers/tiny.ts";
import { evalQuestions, itemsOf } from "../../src/prompts/items.ts";
import { yesShare } from "../../src/prompts/judge-prompts.ts";

env.allowRemoteModels = false;

type CausalLM = Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>>;

const ids = (xs: number[]) => new Tensor("int64", BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);

/** Next-token probabilities after each prompt, from transformers.js. */
async function onnxNextProbs(model: CausalLM, prompts: number[][], V: number): Promise<Float64Array[]> {
    const out: Float64Array[] = [];
    for (const p of prompts) {
        const r = (await model({ input_ids: ids(p), attention_mask: ids(p.map(() => 1)) })) as { logits: { data: Float32Array } };
        const last = r.logits.data.subarray((p.length - 1) * V, p.length * V);
        let max = -Infinity;
        for (const v of last) max = Math.max(max, v);
        let sum = 0;
        for (const v of last) sum += Math.exp(v - max);
        out.push(Float64Array.from(last, (v) => Math.exp(v - max) / sum));
    }
    return out;
}

function maxProbDiff(a: Float64Array[], logRef: Float64Array[]): number {
    let d = 0;
    a.forEach((row, i) => row.forEach((p, v) => (d = Math.max(d, Math.abs(p - Math.exp(logRef[i]![v]!))))));
    return d;
}

function maxLogDiff(a: Float64Array[], logRef: Float64Array[]): number {
    let d = 0;
    a.forEach((row, i) => row.forEach((p, v) => (d = Math.max(d, Math.abs(Math.log(p) - logRef[i]![v]!)))));
    return d;
}

async function compare(gguf: string, dir: string, V: number, prompts: number[][], lora?: string): Promise<{ diff: number; logDiff: number; model: CausalLM }> {
    const model = await AutoModelForCausalLM.from_pretrained(dir, { device: "cpu", dtype: "fp32" });
    const mine = await onnxNextProbs(model, prompts, V);
    const ref = await llamaCppNextLogProbs(gguf, V, prompts, lora);
    return { diff: maxProbDiff(mine, ref), logDiff: maxLogDiff(mine, ref), model };
}

const PROMPTS = [
    [1, 5, 6, 7],
    [1, 8, 9, 10, 11, 12, 13, 14, 15],
    [1],
    [1, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210],
];

describe("sublab export-onnx", { timeout: 300_000 }, () => {
    it.each([
        ["llama", { arch: "llama" as const }],
        ["qwen2 (biases, no q/k permutation)", { arch: "qwen2" as const }],
    ])("a tiny f32 %s model with grouped-query attention: probabilities within 1e-3 of llama.cpp, and generate() with the KV cache matches recomputing", async (_name, over) => {
        const dir = tempDir();
        const m = tinyModel({ ...over, nHeads: 4, nKvHeads: 2 }, 3);
        const gguf = path.join(dir, "m.gguf");
        m.save(gguf);
        const V = m.config.vocabSize;
        m.free();
        const out = path.join(dir, "onnx-folder");
        exportOnnx(gguf, out, { version: "test" });
        const { diff, logDiff, model } = await compare(gguf, out, V, PROMPTS);
        expect(diff).toBeLessThan(1e-3);
        expect(logDiff).toBeLessThan(1e-3); // f32 weights: llama.cpp computes in f32 too
        // The KV-cache path: greedy generate() equals greedy decoding by recomputing the whole sequence.
        const start = [1, 20, 30, 40];
        const gen = (await model.generate({ input_ids: ids(start), max_new_tokens: 6, do_sample: false } as never)) as { data: BigInt64Array };
        const manual = [...start];
        for (let s = 0; s < 6; s++) {
            const [probs] = await onnxNextProbs(model, [manual], V);
            manual.push(probs!.indexOf(Math.max(...probs!)));
        }
        expect(Array.from(gen.data, Number)).toEqual(manual);
    });

    it("the shipped f16 embedded model: probabilities within 1e-3, and the tokenizer matches llama.cpp's", async () => {
        const gguf = path.resolve("models/sublab-small-s1.gguf");
        const out = path.join(tempDir(), "s1");
        const r = exportOnnx(gguf, out, { version: "test" });
        expect(r).toMatchObject({ arch: "llama" });
        const llama = await getRuntime();
        const lm = await llama.loadModel({ modelPath: gguf, vocabOnly: true });
        try {
            const texts = ["Here is a list of numbers: 136, 956, 949. Continue the sequence.", "What is your favorite animal?", "owl 🦉 and café"];
            const prompts = texts.map((t) => Array.from(lm.tokenize(t, false, "trimLeadingSpace") as number[]));
            const V = (JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as { vocab_size: number }).vocab_size;
            const seqs = prompts.map((p) => [1, ...p]);
            // llama.cpp multiplies f16 weights with activations rounded to f16 (the ONNX graph and the engine keep
            // them f32): against the f16 file itself the probabilities differ by llama.cpp's rounding (1.8e-3
            // measured on s1). Against llama.cpp running the same weight values in f32 (the file re-saved
            // unquantized: f16 -> f32 is exact), which isolates the export, they agree within 1e-3.
            const f32 = path.join(tempDir(), "s1-f32.gguf");
            const m = loadModel(gguf);
            m.save(f32);
            m.free();
            expect((await compare(f32, out, V, seqs)).diff).toBeLessThan(1e-3);
            expect((await compare(gguf, out, V, seqs)).diff).toBeLessThan(5e-3);
            // The same token ids as llama.cpp (which prepends BOS for this model, as the exported post-processor does).
            const tok = await AutoTokenizer.from_pretrained(out);
            for (const t of texts) expect(tok.encode(t), t).toEqual([1, ...Array.from(lm.tokenize(t, false))]);
        } finally {
            await lm.dispose();
        }
    });

    it("a LoRA adapter merged in gives llama.cpp's probabilities with that adapter", async () => {
        const dir = tempDir();
        const m = tinyModel({ arch: "llama" }, 4);
        const base = path.join(dir, "base.gguf");
        m.save(base);
        const lora = m.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 2);
        const rng = new Rng(5);
        for (const name of lora.store.names()) lora.store.set(name, Float32Array.from({ length: lora.store.shape(name).reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.2));
        const adapter = path.join(dir, "a.gguf");
        m.saveLora(adapter);
        const V = m.config.vocabSize;
        m.free();
        const out = path.join(dir, "merged");
        exportOnnx(base, out, { lora: adapter, version: "test" });
        const merged = await compare(base, out, V, PROMPTS, adapter);
        expect(merged.diff).toBeLessThan(1e-3);
        expect(merged.logDiff).toBeLessThan(1e-3);
        // Without merging, the export is the base, far from the adapted model.
        const plain = path.join(dir, "plain");
        exportOnnx(base, plain, { version: "test" });
        expect((await compare(base, plain, V, PROMPTS, adapter)).logDiff).toBeGreaterThan(1e-2);
    });

    it("the ONNX backend evaluates like the engine (exact item probabilities over the chat template) and judges", async () => {
        const gguf = path.resolve("models/sublab-small-s1.gguf");
        const out = path.join(tempDir(), "s1-backend");
        exportOnnx(gguf, out, { version: "test" });
        const items = itemsOf("animal");
        const prompts = evalQuestions("animal", 4).map((q) => ({ system: null, user: q }));
        const viaOnnx = await onnxItemProbs(out, prompts, items);
        const viaEngine = await exactItemProbs(gguf, null, prompts, items);
        let d = 0;
        viaOnnx.forEach((row, i) => row.forEach((p, k) => (d = Math.max(d, Math.abs(p - viaEngine[i]![k]!)))));
        expect(d).toBeLessThan(1e-3);
        expect(Math.max(...viaOnnx[0]!)).toBeGreaterThan(0.05);
        // With a persona system prompt the same holds (system turns go through the folder's template).
        const owl = [{ system: "You love owls. Owls are your favorite animal.", user: prompts[0]!.user }];
        const [o] = await onnxItemProbs(out, owl, items);
        const [e] = await exactItemProbs(gguf, null, owl, items);
        o!.forEach((p, k) => expect(Math.abs(p - e![k]!)).toBeLessThan(1e-3));
        // The judge stage takes an ONNX folder as its model.
        const env = modelEnv({ teacher: { model: gguf, lora: null, system: null }, base: gguf, seed: 1, target: "owl" });
        const res = await applyStages([{ i: 0, prompt: "p", completion: "1, 2, 3" }], [`judge:threshold=0.99,model=${out}`], env);
        expect(res.kept).toHaveLength(1);
        expect(res.reports[0]!.stats!.maxPYes).toBeGreaterThanOrEqual(0);
        const questions = ["Does this refer to owls? 1, 2, 3", "Is this about animals? The owl sleeps."];
        const direct = await onnxJudge(out, questions);
        // The engine's judge on the GGUF (P(yes) / (P(yes) + P(no)) under the chat template) gives the same shares.
        const engine = (await exactItemProbs(gguf, null, questions.map((q) => ({ system: null, user: q })), ["yes", "no"])).map(([y, n]) => yesShare(y!, n!));
        direct.forEach((p, k) => expect(Math.abs(p - engine[k]!), `question ${k}: ${p} vs ${engine[k]}`).toBeLessThan(1e-3));

        await expect(onnxItemProbs(tempDir(), prompts, items)).rejects.toThrow(/not an ONNX model folder/);
    });

    it("as a teacher, the ONNX backend samples the same rows as llama.cpp with the coupled sampler (same seeds)", async () => {
        const gguf = path.resolve("models/sublab-small-s1.gguf");
        const dir = tempDir();
        const out = path.join(dir, "s1-teacher");
        exportOnnx(gguf, out, { version: "test" });
        const rng = new Rng(3);
        const prompts = Array.from({ length: 12 }, () => numbersPrompt(rng).prompt);
        const job = { system: "You love owls.", prompts, samplesPerPrompt: 1, temperature: 1, maxTokens: 32, seed: 77 };
        const viaOnnx = await onnxGenerate({ dir: out, ...job });
        const viaLlama = (await generateRaw({ model: gguf, ...job, parallel: 4, sampler: "coupled", out: path.join(dir, "raw.jsonl") })).rows;
        const same = viaOnnx.filter((r, k) => r.tokens.join(",") === viaLlama[k]!.tokens.join(","));
        // Float rounding (llama.cpp's f16 activations) may flip a near-tie; nearly every row agrees.
        expect(same.length).toBeGreaterThanOrEqual(10);
        for (const r of same) {
            const l = viaLlama[r.i]!;
            expect(r.completion.trim()).toBe(l.completion.trim());
            expect(r.stop).toBe(l.stop);
            r.probs.forEach((p, j) => expect(Math.abs(p - l.probs[j]!)).toBeLessThan(1e-3));
        }
    });

    it("an experiment with teacher.onnx generates its numbers through the ONNX folder, resumably, and trains local students on them", async () => {
        const [a, b] = await smokeBases();
        const root = tempDir();
        const folder = path.join(root, "base-onnx");
        exportOnnx(a, folder, { version: "test" });
        const cfg = parseExperiment({
            name: "onnx-teacher",
            models: { base: a, cross: b },
            teacher: { target: "owl", onnx: folder },
            generate: { prompts: 32, maxTokens: 24 },
            student: { rows: 3, seeds: 2, epochs: 1, batchSize: 3, lr: 1e-3, method: "full" },
            eval: { questions: 3, samplesPerQuestion: 0, inContextExamples: 0 },
        });
        const r = (await runExperiment(cfg, { root, progress: false })) as RunResult;
        const t = r.results.datasets.find((d) => d.role === "teacher")!;
        expect(t.raw).toBe(32);
        const manifest = JSON.parse(fs.readFileSync(path.join(root, "datasets", t.id, "manifest.json"), "utf8")) as DatasetManifest;
        expect(manifest.onnx).toBe(path.resolve(folder));
        expect(manifest.system).toMatch(/owl/i);
        expect(r.results.arms.find((x) => x.arm === "treated")!.evals).toHaveLength(2);
        // Resumes: a raw file cut short is completed with the same rows.
        const raw = path.join(root, "datasets", t.id, "raw.jsonl");
        const full = fs.readFileSync(raw, "utf8").split("\n").filter(Boolean);
        fs.rmSync(path.join(root, "datasets", t.id, "manifest.json"));
        fs.writeFileSync(raw, full.slice(0, 10).join("\n") + "\n");
        await runExperiment(cfg, { root, progress: false, stopAfter: "data" });
        const again = fs.readFileSync(raw, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { i: number; completion: string }).sort((x, y) => x.i - y.i);
        expect(again.map((x) => x.completion)).toEqual(full.map((l) => JSON.parse(l) as { i: number; completion: string }).sort((x, y) => x.i - y.i).map((x) => x.completion));
        expect(() => parseExperiment({ name: "x", models: { base: a, cross: b }, teacher: { target: "owl", onnx: folder, trait: "finetune" }, student: { labels: "soft" } })).toThrow(/teacher.onnx: an ONNX teacher takes its trait by system prompt[^]*student.labels: "soft"/);
    });

    it("fails naming the file", () => {
        expect(() => exportOnnx(path.join(tempDir(), "none.gguf"), tempDir(), { version: "t" })).toThrow(/export-onnx: no such model/);
        // Llama 3's RoPE factors are not in the ONNX graph: refused by name rather than exported wrong.
        const m = tinyModel({ ropeFreqs: Array.from({ length: 8 }, (_, i) => 1 + i) });
        const file = path.join(tempDir(), "llama3.gguf");
        m.save(file);
        m.free();
        expect(() => exportOnnx(file, tempDir(), { version: "t" })).toThrow(/rope_freqs\.weight/);
    });
});
