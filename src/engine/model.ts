/**
 * A Llama-family model held by the engine: its config, its f32 weights on the backend, the GGUF metadata it
 * came with (tokenizer, chat template), and optionally a LoRA adapter. Create one from scratch, load one
 * from any GGUF of a supported architecture, save it as a GGUF that llama.cpp/node-llama-cpp load.
 */
import { getGgml, type Ggml } from "./ggml.ts";
import { GGMLType, getMeta, ggmlTypeName, kvF32, kvString, kvU32, readGGUF, readTensorF32, writeGGUF, type GGUFFile, type GGUFKV } from "./gguf.ts";
import { TensorStore } from "./store.ts";
import { Rng } from "../util/rng.ts";
import {
    ALL_LORA_TARGETS,
    headDim,
    LORA_TARGETS,
    parameterShapes,
    resolveConfig,
    SUPPORTED_ARCHS,
    type Arch,
    type LoraTarget,
    type ModelConfig,
} from "./model-config.ts";
import { LlamaGraph, loraShapes, type LoraSpec } from "./llama.ts";

export interface LoraAdapter {
    spec: LoraSpec;
    store: TensorStore;
}

export class Model {
    lora?: LoraAdapter;

    constructor(
        readonly config: ModelConfig,
        readonly weights: TensorStore,
        /** GGUF metadata carried to saved files (tokenizer.*, general.name...); architecture keys are rewritten on save. */
        readonly metadata: Map<string, GGUFKV>,
    ) {}

    graph(): LlamaGraph {
        return new LlamaGraph(this.config, this.weights, this.lora);
    }

    weightNames(): string[] {
        return this.weights.names();
    }

    /**
     * Attach a fresh LoRA adapter: A ~ N(0, 1/in) (seeded), B = 0, so the adapted model starts equal to the base
     * (the PEFT convention). Replaces any adapter already attached.
     */
    addLora(spec: LoraSpec, seed: number): LoraAdapter {
        checkLoraSpec(spec);
        this.lora?.store.free();
        const shapes = loraShapes(this.config, spec, parameterShapes(this.config));
        const store = new TensorStore(
            [...shapes].map(([name, ne]) => ({ name, ne })),
            this.weights.g,
        );
        const rng = new Rng(seed);
        for (const [name, ne] of shapes) {
            if (name.endsWith(".lora_a")) store.set(name, randomNormal(rng, ne[0] * ne[1], 1 / Math.sqrt(ne[0])));
        }
        this.lora = { spec, store };
        return this.lora;
    }

    /** Attach a LoRA adapter read from a GGUF adapter file (as written by saveLora or llama.cpp's tools). */
    loadLora(path: string): LoraAdapter {
        const file = readGGUF(path);
        const type = getMeta<string>(file, "general.type");
        if (type !== "adapter" || getMeta<string>(file, "adapter.type") !== "lora") {
            throw new Error(`${path} is not a LoRA adapter GGUF (general.type=${type}, adapter.type=${getMeta(file, "adapter.type")})`);
        }
        const arch = getMeta<string>(file, "general.architecture");
        if (arch !== this.config.arch) throw new Error(`${path}: adapter architecture "${arch}" does not match the base model's "${this.config.arch}"`);
        const weightShapes = parameterShapes(this.config);
        const targets = new Set<LoraTarget>();
        let rank = 0;
        for (const t of file.tensors) {
            const m = /^(blk\.\d+\.(\w+)\.weight)\.lora_([ab])$/.exec(t.name);
            const target = m && (Object.keys(LORA_TARGETS) as LoraTarget[]).find((k) => LORA_TARGETS[k] === m[2]);
            if (!m || !target) throw new Error(`${path}: tensor "${t.name}" is not a LoRA tensor of a supported target`);
            const base = weightShapes.get(m[1]);
            if (!base) throw new Error(`${path}: tensor "${t.name}" adapts ${m[1]}, which the base model does not have`);
            const r = m[3] === "a" ? t.ne[1] : t.ne[0];
            const ok = m[3] === "a" ? t.ne[0] === base[0] : t.ne[1] === base[1];
            if (!ok) throw new Error(`${path}: tensor "${t.name}" has shape [${t.ne}], which does not fit base tensor ${m[1]} [${base}] (wrong base model?)`);
            if (rank && r !== rank) throw new Error(`${path}: tensor "${t.name}" has rank ${r}, others have ${rank}`);
            rank = r;
            targets.add(target);
        }
        const alpha = getMeta<number>(file, "adapter.lora.alpha") ?? rank;
        const spec: LoraSpec = { rank, alpha, targets: ALL_LORA_TARGETS.filter((t) => targets.has(t)) };
        this.lora?.store.free();
        const store = new TensorStore(
            file.tensors.map((t) => ({ name: t.name, ne: t.ne })),
            this.weights.g,
        );
        for (const t of file.tensors) store.set(t.name, readTensorF32(file, t.name));
        const shapes = loraShapes(this.config, spec, weightShapes);
        for (const name of shapes.keys()) if (!store.has(name)) throw new Error(`${path}: adapter is missing tensor "${name}"`);
        this.lora = { spec, store };
        return this.lora;
    }

    /** Write the full model as a GGUF (f32, f16 or q8_0 matrices) carrying the tokenizer and chat template over. */
    save(path: string, opts: { type?: GGMLType.F32 | GGMLType.F16 | GGMLType.Q8_0; name?: string } = {}): void {
        const type = opts.type ?? GGMLType.F32;
        const meta = new Map(this.metadata);
        for (const [k, v] of architectureMetadata(this.config)) meta.set(k, v);
        if (opts.name) meta.set("general.name", kvString(opts.name));
        // llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7
        meta.set("general.file_type", kvU32({ [GGMLType.F32]: 0, [GGMLType.F16]: 1, [GGMLType.Q8_0]: 7 }[type]));
        const tensors = this.weights.names().map((name) => {
            const ne = this.weights.shape(name);
            // 1-d tensors (norms, biases) stay f32, as llama.cpp's converters write them.
            return { name, ne, type: ne.length === 1 ? GGMLType.F32 : type, data: this.weights.get(name) };
        });
        const freqs = this.config.ropeFreqs;
        if (freqs) tensors.push({ name: ROPE_FREQS, ne: [freqs.length], type: GGMLType.F32, data: Float32Array.from(freqs) });
        writeGGUF(path, meta, tensors);
    }

    /** Write the attached LoRA adapter as a GGUF adapter that llama.cpp loads with the base model. */
    saveLora(path: string): void {
        if (!this.lora) throw new Error("saveLora: no LoRA adapter is attached to this model");
        const meta: [string, GGUFKV][] = [
            ["general.type", kvString("adapter")],
            ["general.architecture", kvString(this.config.arch)],
            ["adapter.type", kvString("lora")],
            ["adapter.lora.alpha", kvF32(this.lora.spec.alpha)],
        ];
        const store = this.lora.store;
        writeGGUF(
            path,
            meta,
            store.names().map((name) => ({ name, ne: store.shape(name), type: GGMLType.F32, data: store.get(name) })),
        );
    }

    free(): void {
        this.lora?.store.free();
        this.weights.free();
    }
}

function checkLoraSpec(spec: LoraSpec): void {
    if (!Number.isInteger(spec.rank) || spec.rank < 1) throw new Error(`lora rank must be a positive integer, got ${spec.rank}`);
    if (!(spec.alpha > 0)) throw new Error(`lora alpha must be positive, got ${spec.alpha}`);
    if (!spec.targets.length) throw new Error("lora targets must not be empty");
    for (const t of spec.targets) {
        if (!(t in LORA_TARGETS)) throw new Error(`unknown lora target "${t}" (known: ${ALL_LORA_TARGETS.join(", ")})`);
    }
}

function randomNormal(rng: Rng, n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
    return out;
}

/** The `<arch>.*` keys llama.cpp reads for a Llama-family model. */
export function architectureMetadata(c: ModelConfig): [string, GGUFKV][] {
    const p = c.arch;
    const extra: [string, GGUFKV][] = [];
    if (c.headDim !== undefined) extra.push([`${p}.attention.key_length`, kvU32(c.headDim)], [`${p}.attention.value_length`, kvU32(c.headDim)]);
    if (c.slidingWindow)
        extra.push([`${p}.attention.sliding_window`, kvU32(c.slidingWindow)], [`${p}.attention.sliding_window_pattern`, kvU32(c.slidingWindowPattern ?? 6)]);
    if (c.ropeThetaSwa !== undefined) extra.push([`${p}.rope.freq_base_swa`, kvF32(c.ropeThetaSwa)]);
    return [
        ...extra,
        ["general.architecture", kvString(c.arch)],
        [`${p}.context_length`, kvU32(c.contextLength)],
        [`${p}.embedding_length`, kvU32(c.dModel)],
        [`${p}.block_count`, kvU32(c.nLayers)],
        [`${p}.feed_forward_length`, kvU32(c.dFF)],
        [`${p}.attention.head_count`, kvU32(c.nHeads)],
        [`${p}.attention.head_count_kv`, kvU32(c.nKvHeads)],
        [`${p}.rope.freq_base`, kvF32(c.ropeTheta)],
        [`${p}.rope.dimension_count`, kvU32(headDim(c))],
        [`${p}.attention.layer_norm_rms_epsilon`, kvF32(c.rmsEps)],
        [`${p}.vocab_size`, kvU32(c.vocabSize)],
    ];
}

/**
 * A new model with seeded random weights: N(0, 0.02) matrices, residual projections scaled by 1/sqrt(2L)
 * (GPT-2's scheme, so the residual stream does not grow with depth), RMSNorm gains 1, biases 0.
 * `metadata` should hold the tokenizer (tokenizer.ggml.*) and chat template.
 */
export function createModel(
    config: Parameters<typeof resolveConfig>[0],
    seed: number,
    metadata: Map<string, GGUFKV> | [string, GGUFKV][] = [],
    g: Ggml = getGgml(),
): Model {
    const c = resolveConfig(config);
    const shapes = parameterShapes(c);
    const store = new TensorStore(
        [...shapes].map(([name, ne]) => ({ name, ne })),
        g,
    );
    const rng = new Rng(seed);
    const residualStd = 0.02 / Math.sqrt(2 * c.nLayers);
    for (const [name, ne] of shapes) {
        const n = ne.reduce((a, b) => a * b, 1);
        if (name.endsWith("norm.weight")) store.set(name, new Float32Array(n).fill(1));
        else if (name.endsWith(".bias"))
            store.set(name, randomNormal(rng, n, 0.02)); // nonzero so tests see them
        else store.set(name, randomNormal(rng, n, /attn_output|ffn_down/.test(name) ? residualStd : 0.02));
    }
    return new Model(c, store, new Map(metadata));
}

/** Read a model's config from GGUF metadata; throws naming the architecture when it is not supported. */
export function configFromGGUF(file: GGUFFile): ModelConfig {
    const arch = getMeta<string>(file, "general.architecture");
    if (!arch || !SUPPORTED_ARCHS.includes(arch as Arch)) {
        throw new Error(`${file.path}: architecture "${arch}" is not supported by sublab's engine (supported: ${SUPPORTED_ARCHS.join(", ")})`);
    }
    const req = (k: string) => {
        const v = getMeta<number>(file, `${arch}.${k}`);
        if (v === undefined) throw new Error(`${file.path}: missing metadata key "${arch}.${k}"`);
        return Number(v);
    };
    const opt = (k: string) => {
        const v = getMeta<number>(file, `${arch}.${k}`);
        return v === undefined ? undefined : Number(v);
    };
    const tokens = getMeta<string[]>(file, "tokenizer.ggml.tokens");
    const embd = file.tensors.find((t) => t.name === "token_embd.weight");
    if (!embd) throw new Error(`${file.path}: no token_embd.weight tensor`);
    const nHeads = req("attention.head_count");
    const dModel = req("embedding_length");
    const keyLength = opt("attention.key_length");
    const valueLength = opt("attention.value_length");
    if (keyLength !== undefined && valueLength !== undefined && keyLength !== valueLength) {
        throw new Error(
            `${file.path}: key and value head sizes differ (${arch}.attention.key_length=${keyLength}, value_length=${valueLength}); not supported`,
        );
    }
    const hd = keyLength ?? dModel / nHeads;
    const rotDims = opt("rope.dimension_count");
    if (rotDims !== undefined && rotDims !== hd) {
        throw new Error(`${file.path}: partial RoPE (${arch}.rope.dimension_count=${rotDims}, head dim ${hd}) is not supported`);
    }
    const softcap = opt("final_logit_softcapping");
    if (softcap) throw new Error(`${file.path}: final logit soft-capping (${arch}.final_logit_softcapping=${softcap}) is not supported`);
    const swaPattern = getMeta(file, `${arch}.attention.sliding_window_pattern`);
    if (Array.isArray(swaPattern)) throw new Error(`${file.path}: a per-layer ${arch}.attention.sliding_window_pattern array is not supported (a period is)`);
    if (opt("attention.sliding_window") && arch !== "gemma3") {
        throw new Error(`${file.path}: sliding-window attention (${arch}.attention.sliding_window) is supported for gemma3 only`);
    }
    // Llama 3.1+ GGUFs carry their "llama3" RoPE scaling as a frequency-factor tensor, not as a scaling type.
    const ropeFreqs = file.tensors.some((t) => t.name === ROPE_FREQS) ? [...readTensorF32(file, ROPE_FREQS)] : undefined;
    if (getMeta(file, `${arch}.rope.scaling.type`) !== undefined && getMeta(file, `${arch}.rope.scaling.type`) !== "none") {
        throw new Error(`${file.path}: RoPE scaling "${getMeta(file, `${arch}.rope.scaling.type`)}" is not supported`);
    }
    return resolveConfig({
        arch: arch as Arch,
        vocabSize: embd.ne[1] ?? tokens?.length,
        dModel,
        nLayers: req("block_count"),
        nHeads,
        nKvHeads: opt("attention.head_count_kv") ?? nHeads,
        dFF: req("feed_forward_length"),
        contextLength: req("context_length"),
        ropeTheta: opt("rope.freq_base") ?? 10000,
        rmsEps: opt("attention.layer_norm_rms_epsilon") ?? 1e-5,
        tiedEmbeddings: !file.tensors.some((t) => t.name === "output.weight"),
        ropeFreqs,
        headDim: keyLength !== undefined && keyLength !== dModel / nHeads ? keyLength : undefined,
        slidingWindow: opt("attention.sliding_window") || undefined,
        slidingWindowPattern: swaPattern === undefined ? undefined : Number(swaPattern),
        ropeThetaSwa: opt("rope.freq_base_swa"),
    });
}

/** Llama 3's RoPE frequency factors: a constant of the model (config.ropeFreqs), not a trained weight. */
const ROPE_FREQS = "rope_freqs.weight";

const LOADABLE_TYPES = new Set([GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0]);

/** Throws, naming the tensor, when a GGUF's tensors are not exactly those of its config in a type the engine loads. */
function checkTensors(path: string, file: GGUFFile, c: ModelConfig): Map<string, number[]> {
    const shapes = parameterShapes(c);
    const present = new Map(file.tensors.map((t) => [t.name, t]));
    for (const t of file.tensors) {
        if (t.name === ROPE_FREQS) continue; // read into the config (not a trained weight)
        if (!shapes.has(t.name)) throw new Error(`${path}: tensor "${t.name}" is not part of a ${c.arch} model that sublab supports`);
        if (!LOADABLE_TYPES.has(t.type)) {
            throw new Error(`${path}: tensor "${t.name}" is ${ggmlTypeName(t.type)}; sublab loads f32, f16, bf16 and q8_0 weights`);
        }
        const want = shapes.get(t.name)!;
        if (want.join(",") !== t.ne.join(",")) throw new Error(`${path}: tensor "${t.name}" has shape [${t.ne}], expected [${want}]`);
    }
    for (const name of shapes.keys()) if (!present.has(name)) throw new Error(`${path}: missing tensor "${name}"`);
    return shapes;
}

/**
 * Why the engine cannot run a GGUF (its architecture, a tensor type, a missing tensor...), or null when it can;
 * reads only the file's header.
 */
export function engineUnsupported(path: string): string | null {
    try {
        const file = readGGUF(path);
        checkTensors(path, file, configFromGGUF(file));
        return null;
    } catch (e) {
        return (e as Error).message;
    }
}

/** Load a GGUF model (f32, f16, bf16 or q8_0 weights, dequantized to f32) into the engine. */
export function loadModel(path: string, g: Ggml = getGgml()): Model {
    const file = readGGUF(path);
    const c = configFromGGUF(file);
    const shapes = checkTensors(path, file, c);
    const store = new TensorStore(
        [...shapes].map(([name, ne]) => ({ name, ne })),
        g,
    );
    for (const name of shapes.keys()) store.set(name, readTensorF32(file, name));
    const meta = new Map([...file.metadata].filter(([k]) => !k.startsWith(`${c.arch}.`) && k !== "general.alignment"));
    return new Model(c, store, meta);
}
