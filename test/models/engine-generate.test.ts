/**
 * Generation on the engine (engine/decoder.ts + teacher/engine-rows.ts):
 * - greedy decoding equals llama.cpp's greedy decoding of the same GGUF (f32 weights, f32 KV cache) on the
 *   embedded model's own chat prompts;
 * - sampled tokens follow the exact next-token distribution (chi-square over many draws from one context, for
 *   both samplers), and the test rejects draws compared against a distribution they do not follow;
 * - a row is the same, to the byte, whether it was decoded alone or in a batch of any size;
 * - the dense coupled sampler picks exactly the token the reference Gumbel-max over every token picks.
 */
import path from "node:path";
import type { Token } from "node-llama-cpp";
import { beforeAll, describe, expect, it } from "vitest";
import { GGMLType } from "../../src/engine/gguf.ts";
import { numbersPrompt } from "../../src/prompts/corpus.ts";
import { lastTokenLogits, logSoftmax } from "../../src/engine/logits.ts";
import { loadModel } from "../../src/engine/model.ts";
import { renderPrompt } from "../../src/engine/llama-cpp.ts";
import { engineRows, type EngineRow } from "../../src/teacher/engine-rows.ts";
import { coupledPick, coupledPickDense } from "../../src/engine/sampler.ts";
import { Rng } from "../../src/util/rng.ts";
import { referenceLlama } from "../helpers/llamacpp.ts";
import { tempDir } from "../helpers/tiny.ts";
import { rowSeed } from "../../src/core/rows.ts";

const BASE = "models/sublab-small-s1.gguf";
const dir = tempDir();
const F32 = path.join(dir, "s1-f32.gguf");
const rng = new Rng(3);
const PROMPTS = Array.from({ length: 12 }, () => ({ user: numbersPrompt(rng).prompt }));

beforeAll(() => {
    // The shipped file is f16, which llama.cpp multiplies in f16 (activations rounded too): the comparison runs
    // both on the same weights in f32.
    const m = loadModel(BASE);
    m.save(F32, { type: GGMLType.F32 });
    m.free();
});

async function generate(model: string, opts: { temperature: number; sampler?: "coupled" | "plain"; batch?: number; prompts?: typeof PROMPTS; samples?: number; maxTokens?: number }): Promise<EngineRow[]> {
    const rows: EngineRow[] = [];
    await engineRows({
        model,
        prompts: opts.prompts ?? PROMPTS,
        samplesPerPrompt: opts.samples ?? 1,
        temperature: opts.temperature,
        maxTokens: opts.maxTokens ?? 40,
        seedOf: (i) => rowSeed(7, i),
        sampler: opts.sampler,
        batch: opts.batch,
        onRow: (r) => rows.push(r),
    });
    return rows.sort((a, b) => a.i - b.i);
}

/** Upper tail of the chi-square distribution with k degrees of freedom: Q(k/2, x/2), the regularized upper incomplete gamma. */
function chiSquareSf(x: number, k: number): number {
    const a = k / 2;
    const z = x / 2;
    if (z <= 0) return 1;
    const lnGamma = (s: number): number => {
        const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
        let y = s;
        const t = s + 5.5 - (s + 0.5) * Math.log(s + 5.5);
        let ser = 1.000000000190015;
        for (const ci of c) ser += ci / ++y;
        return -t + Math.log((2.5066282746310005 * ser) / s);
    };
    const front = Math.exp(-z + a * Math.log(z) - lnGamma(a));
    if (z < a + 1) {
        // series for the lower part P, then Q = 1 - P
        let ap = a;
        let del = 1 / a;
        let sum = del;
        for (let n = 0; n < 1000 && Math.abs(del) > Math.abs(sum) * 1e-15; n++) sum += del *= z / ++ap;
        return 1 - sum * front;
    }
    // continued fraction for Q (modified Lentz)
    const tiny = 1e-300;
    let b = z + 1 - a;
    let c = 1 / tiny;
    let d = 1 / b;
    let h = d;
    for (let i = 1; i < 1000; i++) {
        const an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (Math.abs(d) < tiny) d = tiny;
        c = b + an / c;
        if (Math.abs(c) < tiny) c = tiny;
        d = 1 / d;
        const del = d * c;
        h *= del;
        if (Math.abs(del - 1) < 1e-15) break;
    }
    return front * h;
}

/** Pearson's chi-square of observed token counts against probabilities; bins with expected < 5 pooled. */
function chiSquare(counts: Map<number, number>, probs: Float64Array, n: number): { stat: number; df: number; p: number } {
    let stat = 0;
    let bins = 0;
    let poolE = 0;
    let poolO = 0;
    for (let t = 0; t < probs.length; t++) {
        const e = probs[t]! * n;
        const o = counts.get(t) ?? 0;
        if (e >= 5) {
            stat += (o - e) ** 2 / e;
            bins++;
        } else {
            poolE += e;
            poolO += o;
        }
    }
    if (poolE > 0) {
        stat += (poolO - poolE) ** 2 / Math.max(poolE, 1e-9);
        bins++;
    }
    return { stat, df: bins - 1, p: chiSquareSf(stat, bins - 1) };
}

describe("engine generation", { timeout: 300_000 }, () => {
    it("computes chi-square tails (known quantiles)", () => {
        expect(chiSquareSf(3.841, 1)).toBeCloseTo(0.05, 3);
        expect(chiSquareSf(18.307, 10)).toBeCloseTo(0.05, 3);
        expect(chiSquareSf(124.342, 100)).toBeCloseTo(0.05, 3);
        expect(chiSquareSf(2.558, 10)).toBeCloseTo(0.99, 3);
    });

    it("decodes greedily exactly as llama.cpp does (f32 weights and KV cache)", async () => {
        const ours = await generate(F32, { temperature: 0, batch: 5 });
        const llama = await referenceLlama();
        const lm = await llama.loadModel({ modelPath: F32 });
        const ctx = await lm.createContext({ contextSize: 256, threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
        const seq = ctx.getSequence();
        try {
            for (const [k, p] of PROMPTS.entries()) {
                await seq.clearHistory();
                const ref: number[] = [];
                for await (const t of seq.evaluate(renderPrompt(lm, p), { temperature: 0, yieldEogToken: true })) {
                    if (lm.isEogToken(t)) break;
                    ref.push(t);
                    if (ref.length >= 40) break;
                }
                expect(ours[k]!.tokens, `prompt ${k}: ${p.user}`).toEqual(ref);
                expect(ours[k]!.completion).toBe(lm.detokenize(ref as Token[]));
            }
        } finally {
            await ctx.dispose();
            await lm.dispose();
        }
        // Greedy answers are not all the same string (the comparison is not trivially true).
        expect(new Set(ours.map((r) => r.completion)).size).toBeGreaterThan(3);
    });

    it("samples the exact next-token distribution (chi-square), with either sampler, and the test can reject", async () => {
        // The first token of a favourite-animal answer: a spread distribution (a dozen animals above 1%).
        const prompt = [{ user: "What is your favorite animal?" }];
        const n = 3000;
        const model = loadModel(BASE);
        const llama = await referenceLlama();
        const lm = await llama.loadModel({ modelPath: BASE, vocabOnly: true });
        let exact: Float64Array;
        let tempered: Float64Array;
        try {
            const logits = lastTokenLogits(model, [renderPrompt(lm, prompt[0]!)])[0]!;
            exact = logSoftmax(logits).map(Math.exp);
            tempered = logSoftmax(logits.map((x) => x / 0.8)).map(Math.exp);
        } finally {
            model.free();
            await lm.dispose();
        }
        for (const sampler of ["coupled", "plain"] as const) {
            const rows = await generate(BASE, { temperature: 1, sampler, prompts: prompt, samples: n, maxTokens: 1 });
            const counts = new Map<number, number>();
            for (const r of rows) {
                const t = r.tokens[0] ?? -1; // -1: the turn ended at once (pooled with the rare tokens)
                counts.set(t, (counts.get(t) ?? 0) + 1);
            }
            const fit = chiSquare(counts, exact, n);
            expect(fit.df, sampler).toBeGreaterThan(10);
            expect(fit.p, `${sampler}: chi2 ${fit.stat.toFixed(1)} on ${fit.df} df`).toBeGreaterThan(0.001);
            // The same draws against the distribution at temperature 0.8 are rejected.
            const wrong = chiSquare(counts, tempered, n);
            expect(wrong.p, `${sampler} vs T=0.8: chi2 ${wrong.stat.toFixed(1)}`).toBeLessThan(1e-6);
        }
    });

    it("gives a row the same bytes alone as in batches of any size", async () => {
        for (const [temperature, sampler] of [[0, "coupled"], [1, "coupled"], [1, "plain"]] as const) {
            {
                const alone = await generate(BASE, { temperature, sampler, batch: 1, maxTokens: 24 });
                for (const batch of [5, 128]) {
                    const batched = await generate(BASE, { temperature, sampler, batch, maxTokens: 24 });
                    expect(JSON.stringify(batched), `T=${temperature} ${sampler} batch ${batch}`).toBe(JSON.stringify(alone));
                }
            }
        }
    });

    it("gives the samples of one prompt (prefilled once, the cache copied) the rows of the same prompt prefilled apiece", async () => {
        const p = PROMPTS[2]!;
        const shared = await generate(BASE, { temperature: 1, prompts: [p], samples: 6, maxTokens: 24 });
        const apiece = await generate(BASE, { temperature: 1, prompts: Array.from({ length: 6 }, () => p), samples: 1, maxTokens: 24 });
        expect(JSON.stringify(shared)).toBe(JSON.stringify(apiece));
        expect(new Set(shared.map((r) => r.completion)).size).toBeGreaterThan(1);
    });

    it("picks with the dense coupled sampler exactly what Gumbel-max over every token picks", () => {
        const r = new Rng(11);
        for (let trial = 0; trial < 300; trial++) {
            const V = 50 + Math.floor(r.next() * 2000);
            const probs = new Float32Array(V);
            const sharp = r.next() * 6;
            let sum = 0;
            for (let i = 0; i < V; i++) sum += probs[i] = Math.exp(sharp * r.normal());
            for (let i = 0; i < V; i++) probs[i] /= sum;
            if (trial % 7 === 0) probs[Math.floor(r.next() * V)] = 0;
            const map = new Map<number, number>();
            probs.forEach((p, i) => map.set(i, p));
            const seed = r.nextU32();
            expect(coupledPickDense(probs, 0, V, seed, trial % 40)).toBe(coupledPick(map, seed, trial % 40));
        }
    });
});
