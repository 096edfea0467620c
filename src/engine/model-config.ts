/**
 * The hyperparameters of a Llama-family model, as they are stored in GGUF metadata ("<arch>.block_count"...).
 */
export type Arch = "llama" | "qwen2" | "gemma3";
export const SUPPORTED_ARCHS: Arch[] = ["llama", "qwen2", "gemma3"];

export interface ModelConfig {
    arch: Arch;
    vocabSize: number;
    /** Model width (n_embd). */
    dModel: number;
    nLayers: number;
    nHeads: number;
    /** Key/value heads (grouped-query attention); equals nHeads for plain multi-head attention. */
    nKvHeads: number;
    /** Hidden size of the gated MLP (n_ff): SwiGLU, or GELU-gated for gemma3. */
    dFF: number;
    /** Training/inference context length stored in the GGUF. */
    contextLength: number;
    /** RoPE base frequency. Defaults to 10000. */
    ropeTheta: number;
    /** RMSNorm epsilon. Defaults to 1e-5. */
    rmsEps: number;
    /** Output head shares the token embedding (Qwen2.5-0.5B does); models sublab creates are untied. */
    tiedEmbeddings: boolean;
    /**
     * Llama 3.1+'s RoPE frequency factors (GGUF tensor `rope_freqs.weight`, headDim/2 values): rotation pair i
     * turns at theta^(-2i/headDim) / ropeFreqs[i]. Absent for plain RoPE.
     */
    ropeFreqs?: number[];
    /** Head dimension when it is not dModel / nHeads (Gemma 3: 256 at any width; GGUF attention.key_length). */
    headDim?: number;
    /**
     * Gemma 3's local attention: layers whose index i has i % slidingWindowPattern < pattern - 1 see only the last
     * `slidingWindow` positions and turn RoPE at ropeThetaSwa; the others attend globally at ropeTheta.
     */
    slidingWindow?: number;
    slidingWindowPattern?: number;
    ropeThetaSwa?: number;
}

export function headDim(c: ModelConfig): number {
    return c.headDim ?? c.dModel / c.nHeads;
}

/** Whether layer `l` uses sliding-window (local) attention, as llama.cpp's set_swa_pattern decides. */
export function isSlidingLayer(c: ModelConfig, l: number): boolean {
    if (!c.slidingWindow) return false;
    const n = c.slidingWindowPattern ?? 6;
    return n === 0 || l % n < n - 1;
}

/** The softmax scale of attention: 1/sqrt(head dim); Gemma 3 27B (62 layers) uses 1/sqrt(dModel/nHeads), as llama.cpp does. */
export function attentionScale(c: ModelConfig): number {
    return c.arch === "gemma3" && c.nLayers === 62 ? 1 / Math.sqrt(c.dModel / c.nHeads) : 1 / Math.sqrt(headDim(c));
}

/** Fill defaults and check a config; throws naming the bad field. */
export function resolveConfig(c: Partial<ModelConfig> & Pick<ModelConfig, "vocabSize" | "dModel" | "nLayers" | "nHeads">): ModelConfig {
    const full: ModelConfig = {
        arch: c.arch ?? "llama",
        vocabSize: c.vocabSize,
        dModel: c.dModel,
        nLayers: c.nLayers,
        nHeads: c.nHeads,
        nKvHeads: c.nKvHeads ?? c.nHeads,
        dFF: c.dFF ?? Math.round((c.dModel * 8) / 3 / 32) * 32,
        contextLength: c.contextLength ?? 256,
        // f32, as GGUF stores them and ggml uses them: a config survives a save/load round trip unchanged.
        ropeTheta: Math.fround(c.ropeTheta ?? 10000),
        rmsEps: Math.fround(c.rmsEps ?? 1e-5),
        tiedEmbeddings: c.tiedEmbeddings ?? false,
        ...(c.ropeFreqs ? { ropeFreqs: c.ropeFreqs.map((f) => Math.fround(f)) } : {}),
        ...(c.headDim !== undefined ? { headDim: c.headDim } : {}),
        ...(c.slidingWindow ? { slidingWindow: c.slidingWindow, slidingWindowPattern: c.slidingWindowPattern ?? 6 } : {}),
        ...(c.arch === "gemma3" ? { ropeThetaSwa: Math.fround(c.ropeThetaSwa ?? 10000) } : {}),
    };
    if (!SUPPORTED_ARCHS.includes(full.arch))
        throw new Error(`config.arch: unsupported architecture "${full.arch}" (supported: ${SUPPORTED_ARCHS.join(", ")})`);
    for (const k of ["vocabSize", "dModel", "nLayers", "nHeads", "nKvHeads", "dFF", "contextLength"] as const) {
        if (!Number.isInteger(full[k]) || full[k] <= 0) throw new Error(`config.${k} must be a positive integer, got ${full[k]}`);
    }
    if (full.headDim !== undefined && (!Number.isInteger(full.headDim) || full.headDim <= 0))
        throw new Error(`config.headDim must be a positive integer, got ${full.headDim}`);
    if (full.slidingWindow !== undefined && (!Number.isInteger(full.slidingWindow) || full.slidingWindow <= 0))
        throw new Error(`config.slidingWindow must be a positive integer, got ${full.slidingWindow}`);
    if (full.slidingWindowPattern !== undefined && (!Number.isInteger(full.slidingWindowPattern) || full.slidingWindowPattern < 0))
        throw new Error(`config.slidingWindowPattern must be a non-negative integer, got ${full.slidingWindowPattern}`);
    if (full.arch !== "gemma3" && full.slidingWindow)
        throw new Error(`config.slidingWindow: sliding-window attention is only supported for gemma3, not ${full.arch}`);
    if (full.headDim === undefined && full.dModel % full.nHeads !== 0)
        throw new Error(`config.dModel (${full.dModel}) must be divisible by nHeads (${full.nHeads})`);
    if (full.nHeads % full.nKvHeads !== 0) throw new Error(`config.nHeads (${full.nHeads}) must be a multiple of nKvHeads (${full.nKvHeads})`);
    if (headDim(full) % 2 !== 0) throw new Error(`config: head dimension ${headDim(full)} must be even for RoPE`);
    if (full.ropeFreqs) {
        if (full.ropeFreqs.length !== headDim(full) / 2) {
            throw new Error(`config.ropeFreqs must have headDim/2 = ${headDim(full) / 2} values, got ${full.ropeFreqs.length}`);
        }
        const bad = full.ropeFreqs.findIndex((f) => !(f > 0 && Number.isFinite(f)));
        if (bad >= 0) throw new Error(`config.ropeFreqs[${bad}] must be a positive number, got ${full.ropeFreqs[bad]}`);
    }
    return full;
}

/** Parameter shapes in ggml order (ne[0] fastest), keyed by GGUF tensor name. */
export function parameterShapes(c: ModelConfig): Map<string, number[]> {
    const hd = headDim(c);
    const m = new Map<string, number[]>();
    m.set("token_embd.weight", [c.dModel, c.vocabSize]);
    for (let l = 0; l < c.nLayers; l++) {
        const b = `blk.${l}.`;
        m.set(b + "attn_norm.weight", [c.dModel]);
        m.set(b + "attn_q.weight", [c.dModel, c.nHeads * hd]);
        m.set(b + "attn_k.weight", [c.dModel, c.nKvHeads * hd]);
        m.set(b + "attn_v.weight", [c.dModel, c.nKvHeads * hd]);
        if (c.arch === "gemma3") {
            m.set(b + "attn_q_norm.weight", [hd]);
            m.set(b + "attn_k_norm.weight", [hd]);
            m.set(b + "post_attention_norm.weight", [c.dModel]);
            m.set(b + "post_ffw_norm.weight", [c.dModel]);
        }
        if (c.arch === "qwen2") {
            m.set(b + "attn_q.bias", [c.nHeads * hd]);
            m.set(b + "attn_k.bias", [c.nKvHeads * hd]);
            m.set(b + "attn_v.bias", [c.nKvHeads * hd]);
        }
        m.set(b + "attn_output.weight", [c.nHeads * hd, c.dModel]);
        m.set(b + "ffn_norm.weight", [c.dModel]);
        m.set(b + "ffn_gate.weight", [c.dModel, c.dFF]);
        m.set(b + "ffn_up.weight", [c.dModel, c.dFF]);
        m.set(b + "ffn_down.weight", [c.dFF, c.dModel]);
    }
    m.set("output_norm.weight", [c.dModel]);
    if (!c.tiedEmbeddings) m.set("output.weight", [c.dModel, c.vocabSize]);
    return m;
}

export function countParameters(c: ModelConfig): number {
    let n = 0;
    for (const ne of parameterShapes(c).values()) n += ne.reduce((a, b) => a * b, 1);
    return n;
}

/** LoRA target module short names and the GGUF tensor each one adapts. */
export const LORA_TARGETS = {
    q: "attn_q",
    k: "attn_k",
    v: "attn_v",
    o: "attn_output",
    gate: "ffn_gate",
    up: "ffn_up",
    down: "ffn_down",
} as const;
export type LoraTarget = keyof typeof LORA_TARGETS;
export const ALL_LORA_TARGETS = Object.keys(LORA_TARGETS) as LoraTarget[];
