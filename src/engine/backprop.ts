/**
 * Forward and a hand-written backward pass of the Llama graph (llama.ts), the fast path of training.
 *
 * Why not ggml's autodiff (ggml_build_backward_expand)? It differentiates every matmul with ggml_out_prod,
 * whose CPU kernel is a row-by-row multiply-add: profiling a training step (perf, d=128/L=2, T=256) put 37%
 * of all time in it, against 13% for the forward matmuls. Here every product of the backward pass is a
 * ggml_mul_mat on transposed copies (the tiled GEMM kernel); the copies are O(n^2) against the O(n^3) products.
 *
 * The autodiff path stays as the reference: test/engine-backprop.test.ts checks that both give the same
 * loss and gradients for every parameter kind, and test/engine-grad.test.ts checks autodiff against finite
 * differences.
 */
import { GGML_TYPE_F32, type Tensor } from "./ggml.ts";
import type { GraphBuilder } from "./graph.ts";
import { attentionScale, headDim, isSlidingLayer } from "./model-config.ts";
import { embeddingScale, geluTanh, geluTanhGrad, loraNames, ropeOp, sequenceInputs, type LlamaGraph } from "./llama.ts";

export interface BackpropInput {
    tokens: Int32Array;
    nSeq: number;
    seqLen: number;
    rows: Int32Array;
    /** Target distributions [vocab, rows.length] (one-hot for token targets). */
    labels: Float32Array;
}

export interface BackpropResult {
    loss: Tensor;
    /** Gradient of each trainable tensor (weights by GGUF name, LoRA tensors by their names). */
    grads: Map<string, Tensor>;
}

/**
 * Build loss and gradients of `trainable` tensors into the builder's context. `one` is a persistent scalar
 * tensor holding 1 (the loss's own gradient).
 */
export function buildForwardBackward(b: GraphBuilder, m: LlamaGraph, inp: BackpropInput, trainable: Set<string>, one: Tensor): BackpropResult {
    const c = m.config;
    const a = b.g.api;
    const ctx = b.ctx;
    const W = (n: string) => m.weights.tensor(n);
    const T = inp.seqLen;
    const B = inp.nSeq;
    const N = T * B;
    const hd = headDim(c);
    const H = c.nHeads;
    const Hkv = c.nKvHeads;
    const r = H / Hkv;
    const scale = attentionScale(c);
    const gemma = c.arch === "gemma3";

    const grads = new Map<string, Tensor>();
    const addGrad = (name: string, g: Tensor) => {
        const prev = grads.get(name);
        grads.set(name, prev ? a.ggml_add(ctx, prev, g) : g);
    };
    const T2 = (t: Tensor) => a.ggml_cont(ctx, a.ggml_transpose(ctx, t));
    // Transposed copies are shared: h feeds q, k and v, h2 feeds gate and up.
    const tCache = new Map<Tensor, Tensor>();
    const transposed = (t: Tensor) => {
        let tt = tCache.get(t);
        if (!tt) tCache.set(t, (tt = T2(t)));
        return tt;
    };

    const { tokens, pos, mask, swaMask } = sequenceInputs(b, c, inp);
    const rope = ropeOp(b, c, pos);
    const ropeBack = ropeOp(b, c, pos, true);

    /** y = W x (+ LoRA) (+ bias), remembering what the backward pass needs. */
    const linear = (base: string, x: Tensor) => {
        const w = `${base}.weight`;
        let y = a.ggml_mul_mat(ctx, W(w), x);
        let loraZ: Tensor | undefined;
        const ln = loraNames(w);
        const lora = m.lora && m.lora.store.has(ln.a) ? m.lora : undefined;
        const s = lora ? lora.spec.alpha / lora.spec.rank : 0;
        if (lora) {
            loraZ = a.ggml_mul_mat(ctx, lora.store.tensor(ln.a), x); // [r, N]
            y = a.ggml_add(ctx, y, a.ggml_scale(ctx, a.ggml_mul_mat(ctx, lora.store.tensor(ln.b), loraZ), s));
        }
        if (m.weights.has(`${base}.bias`)) y = a.ggml_add(ctx, y, W(`${base}.bias`));
        return { y, base, x, loraZ, s };
    };

    /** Backward of a linear layer: accumulates its parameter gradients, returns dx (or undefined when not needed). */
    const linearBack = (l: ReturnType<typeof linear>, dy: Tensor, needDx = true): Tensor | undefined => {
        const w = `${l.base}.weight`;
        const dyT = () => transposed(dy);
        if (trainable.has(w)) addGrad(w, a.ggml_mul_mat(ctx, transposed(l.x), dyT())); // [in, out]
        if (trainable.has(`${l.base}.bias`)) addGrad(`${l.base}.bias`, a.ggml_repeat_back(ctx, dy, W(`${l.base}.bias`)));
        let dx: Tensor | undefined;
        if (l.loraZ) {
            const ln = loraNames(w);
            const store = m.lora!.store;
            // y += s * B z, z = A x
            if (trainable.has(ln.b)) addGrad(ln.b, a.ggml_scale(ctx, a.ggml_mul_mat(ctx, T2(l.loraZ), dyT()), l.s)); // [r, out]
            const dz = a.ggml_scale(ctx, a.ggml_mul_mat(ctx, T2(store.tensor(ln.b)), dy), l.s); // [r, N]
            if (trainable.has(ln.a)) addGrad(ln.a, a.ggml_mul_mat(ctx, transposed(l.x), T2(dz))); // [in, r]
            if (needDx) dx = a.ggml_mul_mat(ctx, T2(store.tensor(ln.a)), dz); // [in, N]
        }
        if (!needDx) return undefined;
        const main = a.ggml_mul_mat(ctx, T2(W(w)), dy); // [in, N]
        return dx ? a.ggml_add(ctx, main, dx) : main;
    };

    /** RMSNorm then gain: returns the output and its backward. */
    const norm = (x: Tensor, w: string) => {
        const hn = a.ggml_rms_norm(ctx, x, c.rmsEps);
        const y = a.ggml_mul(ctx, hn, W(w));
        const back = (dy: Tensor) => {
            if (trainable.has(w)) addGrad(w, a.ggml_repeat_back(ctx, a.ggml_mul(ctx, dy, hn), W(w)));
            return a.ggml_rms_norm_back(ctx, a.ggml_mul(ctx, dy, W(w)), x, c.rmsEps);
        };
        return { y, back };
    };

    /** [x0, x1, Hkv, B] -> [x0, x1, r*Hkv, B]: output head h reads kv head floor(h / r), as llama.cpp broadcasts. */
    const repeatKv = (t: Tensor, d0: number, d1: number) =>
        r === 1 ? t : a.ggml_reshape_4d(ctx, a.ggml_repeat_4d(ctx, a.ggml_reshape_4d(ctx, t, d0 * d1, 1, Hkv, B), d0 * d1, r, Hkv, B), d0, d1, H, B);
    // The backward of repeatKv sums the r copies; repeat_back reads its second argument only for the shape.
    const sumKv = (t: Tensor, d0: number, d1: number) =>
        r === 1
            ? t
            : a.ggml_reshape_4d(
                  ctx,
                  a.ggml_repeat_back(ctx, a.ggml_reshape_4d(ctx, t, d0 * d1, r, Hkv, B), a.ggml_new_tensor_4d(ctx, GGML_TYPE_F32, d0 * d1, 1, Hkv, B)),
                  d0,
                  d1,
                  Hkv,
                  B,
              );

    type Norm = ReturnType<typeof norm>;
    /** Gemma 3's extra norms (q/k per head, after attention, after the MLP); undefined for the other architectures. */
    type GemmaNorms = { q: Norm; k: Norm; postAttn?: Norm; postFfn?: Norm };

    // ---- forward ----
    const layers: {
        attnIn: Tensor;
        lin: Record<string, ReturnType<typeof linear>>;
        n1: Norm;
        n2: Norm;
        gn?: GemmaNorms;
        q4: Tensor;
        k4: Tensor;
        vh: Tensor;
        P: Tensor;
        g: Tensor;
        u: Tensor;
        geluT?: Tensor;
        geluY?: Tensor;
    }[] = [];
    let x = a.ggml_get_rows(ctx, W("token_embd.weight"), tokens);
    if (gemma) x = a.ggml_scale(ctx, x, embeddingScale(c));
    for (let l = 0; l < c.nLayers; l++) {
        const p = `blk.${l}.`;
        const n1 = norm(x, p + "attn_norm.weight");
        const lq = linear(p + "attn_q", n1.y);
        const lk = linear(p + "attn_k", n1.y);
        const lv = linear(p + "attn_v", n1.y);
        let q3 = a.ggml_reshape_3d(ctx, lq.y, hd, H, N);
        let k3 = a.ggml_reshape_3d(ctx, lk.y, hd, Hkv, N);
        let gn: GemmaNorms | undefined;
        if (gemma) {
            gn = { q: norm(q3, p + "attn_q_norm.weight"), k: norm(k3, p + "attn_k_norm.weight") };
            q3 = gn.q.y;
            k3 = gn.k.y;
        }
        const qr = rope(q3, l);
        const kr = rope(k3, l);
        const q4 = a.ggml_cont(ctx, a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, qr, hd, H, T, B), 0, 2, 1, 3)); // [hd, T, H, B]
        const k4 = repeatKv(a.ggml_cont(ctx, a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, kr, hd, Hkv, T, B), 0, 2, 1, 3)), hd, T);
        const vh = repeatKv(a.ggml_cont(ctx, a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, lv.y, hd, Hkv, T, B), 0, 2, 1, 3)), hd, T); // [hd, T, H, B]
        const P = a.ggml_soft_max_ext(ctx, a.ggml_mul_mat(ctx, k4, q4), isSlidingLayer(c, l) && swaMask ? swaMask : mask, scale, 0); // [Tk, Tq, H, B]
        const O = a.ggml_mul_mat(ctx, T2(vh), P); // [hd, Tq, H, B]
        const attn = a.ggml_reshape_2d(ctx, a.ggml_cont(ctx, a.ggml_permute(ctx, O, 0, 2, 1, 3)), hd * H, N);
        const lo = linear(p + "attn_output", attn);
        if (gn) gn.postAttn = norm(lo.y, p + "post_attention_norm.weight");
        const x1 = a.ggml_add(ctx, x, gn ? gn.postAttn!.y : lo.y);
        const n2 = norm(x1, p + "ffn_norm.weight");
        const lg = linear(p + "ffn_gate", n2.y);
        const lu = linear(p + "ffn_up", n2.y);
        const gelu = gemma ? geluTanh(b, lg.y) : undefined;
        const act = gelu ? a.ggml_mul(ctx, gelu.y, lu.y) : a.ggml_swiglu_split(ctx, lg.y, lu.y);
        const ld = linear(p + "ffn_down", act);
        if (gn) gn.postFfn = norm(ld.y, p + "post_ffw_norm.weight");
        layers.push({ attnIn: x, lin: { lq, lk, lv, lo, lg, lu, ld }, n1, n2, gn, q4, k4, vh, P, g: lg.y, u: lu.y, geluT: gelu?.t, geluY: gelu?.y });
        x = a.ggml_add(ctx, x1, gn ? gn.postFfn!.y : ld.y);
    }
    const nf = norm(x, "output_norm.weight");
    const rows = b.inputI32([inp.rows.length], inp.rows, "rows");
    const sel = a.ggml_get_rows(ctx, nf.y, rows); // [d, n]
    const headName = c.tiedEmbeddings ? "token_embd.weight" : "output.weight";
    const logits = a.ggml_mul_mat(ctx, W(headName), sel); // [V, n]
    const labels = b.inputF32([c.vocabSize, inp.rows.length], inp.labels, "labels");
    const loss = a.ggml_cross_entropy_loss(ctx, logits, labels);

    // ---- backward ----
    const dLogits = a.ggml_cross_entropy_loss_back(ctx, one, logits, labels); // [V, n]
    if (trainable.has(headName)) addGrad(headName, a.ggml_mul_mat(ctx, T2(sel), T2(dLogits))); // [d, V]
    const dSel = a.ggml_mul_mat(ctx, T2(W(headName)), dLogits); // [d, n]
    let dx = nf.back(a.ggml_get_rows_back(ctx, dSel, rows, nf.y));
    for (let l = c.nLayers - 1; l >= 0; l--) {
        const L = layers[l];
        // MLP
        const dAct = linearBack(L.lin.ld, L.gn ? L.gn.postFfn!.back(dx) : dx)!;
        const dG = L.geluT
            ? a.ggml_mul(ctx, a.ggml_mul(ctx, dAct, L.u), geluTanhGrad(b, L.g, L.geluT))
            : a.ggml_silu_back(ctx, a.ggml_mul(ctx, dAct, L.u), L.g);
        const dU = a.ggml_mul(ctx, L.geluY ?? a.ggml_silu(ctx, L.g), dAct);
        const dH2 = a.ggml_add(ctx, linearBack(L.lin.lg, dG)!, linearBack(L.lin.lu, dU)!);
        const dx1 = a.ggml_add(ctx, dx, L.n2.back(dH2));
        // attention
        const dAttn = linearBack(L.lin.lo, L.gn ? L.gn.postAttn!.back(dx1) : dx1)!; // [hd*H, N]
        const dO = a.ggml_cont(ctx, a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, dAttn, hd, H, T, B), 0, 2, 1, 3)); // [hd, Tq, H, B]
        const dP = a.ggml_mul_mat(ctx, L.vh, dO); // [Tk, Tq, H, B]
        const dVh = a.ggml_mul_mat(ctx, T2(dO), T2(L.P)); // [hd, Tk, H, B]
        const dS = a.ggml_soft_max_ext_back(ctx, dP, L.P, scale, 0); // d(kq), scale included
        const dQ4 = a.ggml_mul_mat(ctx, T2(L.k4), dS); // [hd, Tq, H, B]
        const dK4 = a.ggml_mul_mat(ctx, T2(L.q4), T2(dS)); // [hd, Tk, H, B]
        const toTokens = (t: Tensor) => a.ggml_cont(ctx, a.ggml_permute(ctx, t, 0, 2, 1, 3)); // [hd, T, heads, B] -> [hd, heads, T, B]
        let dq3 = ropeBack(a.ggml_reshape_3d(ctx, toTokens(dQ4), hd, H, N), l);
        let dk3 = ropeBack(a.ggml_reshape_3d(ctx, toTokens(sumKv(dK4, hd, T)), hd, Hkv, N), l);
        if (L.gn) {
            dq3 = L.gn.q.back(dq3);
            dk3 = L.gn.k.back(dk3);
        }
        const dq = a.ggml_reshape_2d(ctx, dq3, hd * H, N);
        const dk = a.ggml_reshape_2d(ctx, dk3, hd * Hkv, N);
        const dv = a.ggml_reshape_2d(ctx, toTokens(sumKv(dVh, hd, T)), hd * Hkv, N);
        const dH = a.ggml_add(ctx, a.ggml_add(ctx, linearBack(L.lin.lq, dq)!, linearBack(L.lin.lk, dk)!), linearBack(L.lin.lv, dv)!);
        dx = a.ggml_add(ctx, dx1, L.n1.back(dH));
    }
    if (gemma) dx = a.ggml_scale(ctx, dx, embeddingScale(c));
    if (trainable.has("token_embd.weight")) addGrad("token_embd.weight", a.ggml_get_rows_back(ctx, dx, tokens, W("token_embd.weight")));

    for (const name of trainable) if (!grads.has(name)) throw new Error(`no gradient was built for trainable tensor ${name}`);
    return { loss, grads };
}
