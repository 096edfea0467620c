/**
 * Gradients of every trained parameter kind (embedding, norms, attention incl. qwen2 biases, MLP, output
 * head, LoRA A/B) agree with central finite differences of the engine's own loss, along random directions.
 */
import { describe, expect, it } from "vitest";
import { createModel, type Model } from "../../src/engine/model.ts";
import { ALL_LORA_TARGETS, type Arch } from "../../src/engine/model-config.ts";
import { batchLoss, lossAndGradients } from "../../src/students/trainer.ts";
import { type BackwardKind } from "../../src/students/trainer-types.ts";
import { type TrainExample } from "../../src/students/trainer-types.ts";
import { Rng } from "../../src/util/rng.ts";

const V = 40;

function gradModel(arch: Arch, ropeFreqs?: number[]): Model {
    // gemma3: two layers (one sliding-window of 3 positions, one global) and a head size (6) that is not dModel/nHeads.
    const gemma = arch === "gemma3" ? { nLayers: 2, headDim: 6, slidingWindow: 3, slidingWindowPattern: 2 } : {};
    const m = createModel({ arch, vocabSize: V, dModel: 16, nLayers: 1, nHeads: 4, nKvHeads: 2, dFF: 24, contextLength: 16, ropeFreqs, ...gemma }, 7);
    // Larger weights than the 0.02 init so that every parameter moves the loss well above f32 noise.
    const rng = new Rng(3);
    for (const n of m.weights.names()) {
        const w = m.weights.get(n);
        for (let i = 0; i < w.length; i++) w[i] = n.endsWith("norm.weight") ? 1 + 0.3 * rng.normal() : 0.4 * rng.normal();
        m.weights.set(n, w);
    }
    return m;
}

function examples(soft: boolean): TrainExample[] {
    const rng = new Rng(11);
    const mk = (len: number, maskFrom: number): TrainExample => {
        const tokens = Int32Array.from({ length: len }, () => rng.int(V));
        const targetMask = Uint8Array.from({ length: len }, (_, j) => (j >= maskFrom ? 1 : 0));
        const k = targetMask.reduce((s, x) => s + x, 0);
        if (!soft) return { tokens, targetMask };
        const dist = new Float32Array(k * V);
        for (let r = 0; r < k; r++) {
            let z = 0;
            for (let v = 0; v < V; v++) z += dist[r * V + v] = Math.exp(2 * rng.normal());
            for (let v = 0; v < V; v++) dist[r * V + v] /= z;
        }
        return { tokens, targetMask, soft: dist };
    };
    return [mk(9, 3), mk(6, 1), mk(12, 8)];
}

/** Directional derivative along u by central differences vs the analytic gradient . u. */
function checkTensor(m: Model, store: Model["weights"], name: string, grad: Float32Array, ex: TrainExample[], seed: number) {
    const w0 = store.get(name);
    const rng = new Rng(seed);
    const u = Float32Array.from(w0, () => rng.normal());
    const h = 2e-3;
    const at = (s: number) => {
        store.set(name, Float32Array.from(w0, (x, i) => x + s * h * u[i]));
        return batchLoss(m, ex);
    };
    const fd = (at(1) - at(-1)) / (2 * h);
    store.set(name, w0);
    let an = 0;
    for (let i = 0; i < u.length; i++) an += grad[i] * u[i];
    return { fd, an };
}

/** Full fine-tuning gradients of every weight vs finite differences; returns the weight kinds seen (layer prefix dropped). */
function checkFullGradients(m: Model, ex: TrainExample[], backward: BackwardKind): Set<string> {
    const { loss, grads } = lossAndGradients(m, ex, "full", undefined, backward);
    expect(loss).toBeCloseTo(batchLoss(m, ex), 5);
    const kinds = new Set<string>();
    for (const [name, grad] of grads) {
        const { fd, an } = checkTensor(m, m.weights, name, grad, ex, name.length);
        expect(Math.abs(fd - an), `${name}: finite difference ${fd} vs analytic ${an}`).toBeLessThan(0.02 * Math.max(Math.abs(fd), Math.abs(an)) + 2e-4);
        expect(Math.abs(an), `${name} gradient is not trivially zero`).toBeGreaterThan(1e-3);
        kinds.add(name.replace(/^blk\.\d+\./, ""));
    }
    return kinds;
}

describe.each(["manual", "autodiff"] as BackwardKind[])("%s gradients vs finite differences", (backward) => {
    for (const arch of ["llama", "qwen2"] as Arch[]) {
        for (const soft of [false, true]) {
            it(`full model, ${arch}, ${soft ? "soft-label" : "token"} targets`, () => {
                const m = gradModel(arch);
                const ex = examples(soft);
                const kinds = checkFullGradients(m, ex, backward);
                const expected = ["token_embd.weight", "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "output_norm.weight", "output.weight"];
                if (arch === "qwen2") expected.push("attn_q.bias", "attn_k.bias", "attn_v.bias");
                expect([...kinds].sort()).toEqual(expected.sort());
                m.free();
            });
        }
    }

    it("full model, gemma3 (embedding scale, q/k norms, post norms, GELU gate, sliding window)", () => {
        const m = gradModel("gemma3");
        const ex = examples(false);
        if (backward === "autodiff") {
            expect(() => lossAndGradients(m, ex, "full", undefined, backward)).toThrow(/autodiff" does not support gemma3/);
            m.free();
            return;
        }
        const kinds = checkFullGradients(m, ex, backward);
        expect([...kinds].sort()).toEqual(
            ["token_embd.weight", "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_q_norm.weight", "attn_k_norm.weight", "attn_output.weight", "post_attention_norm.weight",
                "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "post_ffw_norm.weight", "output_norm.weight", "output.weight"].sort(),
        );
        // The window matters: the same weights attending globally give another loss.
        const global = createModel({ ...m.config, slidingWindow: undefined }, 7);
        for (const n of m.weights.names()) global.weights.set(n, m.weights.get(n));
        expect(Math.abs(batchLoss(global, ex) - batchLoss(m, ex))).toBeGreaterThan(1e-3);
        global.free();
        m.free();
    });

    it("full model, llama with Llama 3's RoPE frequency factors", () => {
        // The factors are constants: the gradients of q and k go through RoPE's backward with them.
        const m = gradModel("llama", [1, 6.5]);
        const ex = examples(false);
        const { grads } = lossAndGradients(m, ex, "full", undefined, backward);
        expect(grads.has("rope_freqs.weight")).toBe(false);
        for (const name of ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "token_embd.weight"]) {
            const { fd, an } = checkTensor(m, m.weights, name, grads.get(name)!, ex, name.length);
            expect(Math.abs(fd - an), `${name}: finite difference ${fd} vs analytic ${an}`).toBeLessThan(0.02 * Math.max(Math.abs(fd), Math.abs(an)) + 2e-4);
            expect(Math.abs(an)).toBeGreaterThan(1e-3);
        }
        // ...and they change the model: the same weights without them give another loss.
        const plain = gradModel("llama");
        expect(Math.abs(batchLoss(plain, ex) - batchLoss(m, ex))).toBeGreaterThan(1e-3);
        plain.free();
        m.free();
    });

    it("LoRA A and B on all seven targets", () => {
        const m = gradModel("llama");
        const lora = m.addLora({ rank: 3, alpha: 6, targets: ALL_LORA_TARGETS }, 5);
        // B starts at zero (PEFT convention), which would zero A's gradient: give B values for the check.
        const rng = new Rng(9);
        for (const n of lora.store.names()) if (n.endsWith("lora_b")) lora.store.set(n, Float32Array.from({ length: lora.store.numel(n) }, () => 0.3 * rng.normal()));
        const ex = examples(false);
        const { grads } = lossAndGradients(m, ex, "lora", undefined, backward);
        expect(grads.size).toBe(14);
        for (const [name, grad] of grads) {
            const { fd, an } = checkTensor(m, lora.store, name, grad, ex, name.length);
            expect(Math.abs(fd - an), `${name}: finite difference ${fd} vs analytic ${an}`).toBeLessThan(0.02 * Math.max(Math.abs(fd), Math.abs(an)) + 2e-4);
            expect(Math.abs(an)).toBeGreaterThan(1e-3);
        }
        m.free();
    });
});
