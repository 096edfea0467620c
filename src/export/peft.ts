/**
 * LoRA adapters between PEFT (adapter_config.json + adapter_model.safetensors, as TRL, Unsloth and PEFT save
 * them) and GGUF (as llama.cpp and node-llama-cpp load them, and as the engine writes them).
 *
 * Names: PEFT's `base_model.model.model.layers.L.self_attn.q_proj.lora_A.weight` is GGUF's
 * `blk.L.attn_q.weight.lora_a` (k, v, o -> attn_k, attn_v, attn_output; mlp gate/up/down -> ffn_gate/up/down),
 * lora_B -> lora_b. Layouts: PEFT's lora_A is [r, in] and lora_B [out, r] (row-major, torch order); ggml's
 * are ne = [in, r] and [r, out], the same bytes, so no data moves. Scaling: PEFT multiplies by
 * lora_alpha / r (lora_alpha / sqrt(r) with use_rslora); llama.cpp by adapter.lora.alpha / r, so an rsLoRA
 * adapter is written with alpha * sqrt(r). Row order: llama.cpp's converter stores a `llama` model's q and k
 * rows interleaved for its RoPE (see hfRowToGguf), so lora_B of q_proj/k_proj is permuted the same way going
 * in and back going out; other projections and other architectures (qwen2, gemma3: NeoX RoPE) keep HF order.
 */
import fs from "node:fs";
import path from "node:path";
import { bf16ToF32, f16ToF32, getMeta, GGMLType, kvF32, kvString, readGGUF, readTensorF32, writeGGUF, type GGUFFile } from "../engine/gguf.ts";
import { LORA_TARGETS, type LoraTarget } from "../engine/model-config.ts";

// ---- safetensors ----

export interface SafeTensor {
    name: string;
    /** Torch order (row-major, the last dimension fastest). */
    shape: number[];
    data: Float32Array;
}

/** Reads a .safetensors file (F32, F16 and BF16 tensors, converted to f32); anything malformed fails naming the file. */
export function readSafetensors(file: string): { tensors: SafeTensor[]; metadata: Record<string, string> } {
    if (!fs.existsSync(file)) throw new Error(`no such file ${file}`);
    const buf = fs.readFileSync(file);
    const bad = (why: string) => new Error(`${file}: unreadable safetensors (${why})`);
    if (buf.length < 8) throw bad(`${buf.length} bytes, shorter than the 8-byte header length`);
    const n = Number(buf.readBigUInt64LE(0));
    if (n <= 0 || 8 + n > buf.length) throw bad(`header length ${n} does not fit a ${buf.length}-byte file`);
    let header: Record<string, unknown>;
    try {
        header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
    } catch (e) {
        throw bad(`header is not JSON: ${(e as Error).message}`);
    }
    const data = buf.subarray(8 + n);
    const tensors: SafeTensor[] = [];
    for (const [name, v] of Object.entries(header)) {
        if (name === "__metadata__") continue;
        const t = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
        const width = { F32: 4, F16: 2, BF16: 2 }[t.dtype ?? ""];
        if (!width) throw bad(`tensor "${name}" has dtype ${t.dtype}; F32, F16 and BF16 are read`);
        if (!Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) throw bad(`tensor "${name}" has no shape or data_offsets`);
        const count = t.shape.reduce((a, b) => a * b, 1);
        const [lo, hi] = t.data_offsets;
        if (!(lo >= 0 && hi <= data.length && hi - lo === count * width))
            throw bad(`tensor "${name}" data_offsets [${lo}, ${hi}] do not hold ${count} ${t.dtype} values in ${data.length} data bytes`);
        const bytes = Buffer.from(data.subarray(lo, hi)); // aligned copy
        let values: Float32Array;
        if (t.dtype === "F32") values = new Float32Array(bytes.buffer, bytes.byteOffset, count);
        else {
            const h = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
            values = t.dtype === "BF16" ? bf16ToF32(h) : f16ToF32(h);
        }
        tensors.push({ name, shape: t.shape, data: Float32Array.from(values) });
    }
    return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

/** Writes F32 tensors as a .safetensors file (header padded to 8 bytes, tensors in the given order). */
export function writeSafetensors(file: string, tensors: readonly SafeTensor[], metadata: Record<string, string> = {}): void {
    const header: Record<string, unknown> = { __metadata__: metadata };
    let at = 0;
    for (const t of tensors) {
        header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [at, at + t.data.length * 4] };
        at += t.data.length * 4;
    }
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
}

// ---- names ----

const PEFT_MODULES: Record<LoraTarget, string> = {
    q: "self_attn.q_proj",
    k: "self_attn.k_proj",
    v: "self_attn.v_proj",
    o: "self_attn.o_proj",
    gate: "mlp.gate_proj",
    up: "mlp.up_proj",
    down: "mlp.down_proj",
};

const PEFT_NAME = /^(?:base_model\.model\.)?model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([AB])(?:\.default)?\.weight$/;

/** The GGUF name of a PEFT LoRA tensor, or null when it is not one of a supported projection. */
export function ggufLoraName(peftName: string): string | null {
    const m = PEFT_NAME.exec(peftName);
    if (!m) return null;
    const target = (Object.keys(PEFT_MODULES) as LoraTarget[]).find((t) => PEFT_MODULES[t] === m[2])!;
    return `blk.${m[1]}.${LORA_TARGETS[target]}.weight.lora_${m[3]!.toLowerCase()}`;
}

/** The PEFT name of a GGUF LoRA tensor. */
export function peftLoraName(ggufName: string): string {
    const m = /^blk\.(\d+)\.(\w+)\.weight\.lora_([ab])$/.exec(ggufName);
    const target = m && (Object.keys(LORA_TARGETS) as LoraTarget[]).find((t) => LORA_TARGETS[t] === m[2]);
    if (!m || !target) throw new Error(`"${ggufName}" is not a GGUF LoRA tensor of a supported projection`);
    return `base_model.model.model.layers.${m[1]}.${PEFT_MODULES[target]}.lora_${m[3]!.toUpperCase()}.weight`;
}

/**
 * llama.cpp's converter interleaves a `llama` model's q/k rows for its RoPE: Hugging Face row h*hd + half*hd/2 + i
 * is GGUF row h*hd + 2i + half (head h, head size hd). Returns the GGUF row of HF row `row`.
 */
export function hfRowToGguf(row: number, hd: number): number {
    const h = Math.floor(row / hd);
    const j = row % hd;
    return h * hd + 2 * (j % (hd / 2)) + Math.floor(j / (hd / 2));
}

/** The head size of a `llama` base when its q/k LoRA rows need permuting, else undefined (no permutation). */
function llamaHeadDim(base: GGUFFile): number | undefined {
    if (getMeta<string>(base, "general.architecture") !== "llama") return undefined;
    const key = getMeta<number>(base, "llama.attention.key_length");
    if (key !== undefined) return Number(key);
    return Number(getMeta<number>(base, "llama.embedding_length")) / Number(getMeta<number>(base, "llama.attention.head_count"));
}

/**
 * Moves the out-rows (ggml ne[1]) of a q/k lora_b between HF and GGUF order: `toGguf` sends HF row o to GGUF row
 * hfRowToGguf(o), otherwise back. Any other tensor, or hd undefined, is returned as it is.
 */
function permuteLoraB(name: string, data: Float32Array, ne: number[], hd: number | undefined, toGguf: boolean): Float32Array {
    if (hd === undefined || !/\.attn_[qk]\.weight\.lora_b$/.test(name)) return data;
    const [r, out] = [ne[0]!, ne[1]!];
    const res = new Float32Array(data.length);
    for (let o = 0; o < out; o++) {
        const g = hfRowToGguf(o, hd);
        const [from, to] = toGguf ? [o, g] : [g, o];
        res.set(data.subarray(from * r, from * r + r), to * r);
    }
    return res;
}

// ---- PEFT -> GGUF ----

interface PeftConfig {
    r: number;
    lora_alpha: number;
    use_rslora?: boolean;
    use_dora?: boolean;
    fan_in_fan_out?: boolean;
    peft_type?: string;
    rank_pattern?: Record<string, number>;
    alpha_pattern?: Record<string, number>;
    base_model_name_or_path?: string;
}

function readPeftConfig(file: string): PeftConfig {
    if (!fs.existsSync(file)) throw new Error(`no adapter_config.json beside the adapter (${file})`);
    let c: PeftConfig;
    try {
        c = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`${file}: not JSON (${(e as Error).message})`);
    }
    const no = (why: string) => new Error(`${file}: ${why}`);
    if (c.peft_type && c.peft_type !== "LORA") throw no(`peft_type ${c.peft_type}; only LORA adapters convert`);
    if (!Number.isInteger(c.r) || c.r < 1) throw no(`r must be a positive integer, got ${JSON.stringify(c.r)}`);
    if (!(typeof c.lora_alpha === "number" && c.lora_alpha > 0)) throw no(`lora_alpha must be a positive number, got ${JSON.stringify(c.lora_alpha)}`);
    if (c.use_dora) throw no("use_dora: DoRA adapters have no llama.cpp LoRA equivalent");
    if (c.fan_in_fan_out) throw no("fan_in_fan_out: adapters of Conv1D (GPT-2 style) layers are not supported");
    if (c.rank_pattern && Object.keys(c.rank_pattern).length) throw no("rank_pattern: per-module ranks are not supported");
    if (c.alpha_pattern && Object.keys(c.alpha_pattern).length) throw no("alpha_pattern: per-module alphas are not supported");
    return c;
}

export interface ImportResult {
    out: string;
    rank: number;
    alpha: number;
    tensors: number;
    /** "peft" when converted, "gguf" when a GGUF adapter was checked and copied. */
    from: "peft" | "gguf";
}

/** Checks a GGUF LoRA tensor against the base's weight (names, architecture, shapes); throws naming the tensor. */
function checkAgainstBase(base: GGUFFile, basePath: string, name: string, ne: number[], source: string): void {
    const weight = name.replace(/\.lora_[ab]$/, "");
    const w = base.tensors.find((t) => t.name === weight);
    if (!w) throw new Error(`${source}: tensor "${name}" adapts ${weight}, which ${basePath} does not have (wrong base model?)`);
    const fits = name.endsWith(".lora_a") ? ne[0] === w.ne[0] : ne[1] === w.ne[1];
    if (ne.length !== 2 || !fits)
        throw new Error(
            `${source}: tensor "${name}" has shape [${ne}] (ggml order), which does not fit ${weight} [${w.ne}] of ${basePath} (wrong base model?)`,
        );
}

/**
 * A LoRA adapter for `base` as a GGUF at `out`: PATH is a PEFT folder (or its adapter_model.safetensors) to
 * convert, or a GGUF adapter (llama.cpp's tools write these) to check against the base and copy as it is.
 */
export function importAdapter(input: string, basePath: string, out: string): ImportResult {
    if (!fs.existsSync(input)) throw new Error(`import-adapter: no such file or folder ${input}`);
    if (!fs.existsSync(basePath)) throw new Error(`--base: no such file ${basePath}`);
    const base = readGGUF(basePath);
    const arch = getMeta<string>(base, "general.architecture");
    if (!arch) throw new Error(`${basePath}: no general.architecture`);
    const isDir = fs.statSync(input).isDirectory();
    if (!isDir && fs.readFileSync(input).subarray(0, 4).toString("latin1") === "GGUF") {
        const a = readGGUF(input);
        if (getMeta(a, "general.type") !== "adapter" || getMeta(a, "adapter.type") !== "lora")
            throw new Error(
                `${input}: a GGUF, but not a LoRA adapter (general.type=${getMeta(a, "general.type")}, adapter.type=${getMeta(a, "adapter.type")})`,
            );
        const aArch = getMeta<string>(a, "general.architecture");
        if (aArch !== arch) throw new Error(`${input}: adapter architecture "${aArch}" does not match the base's "${arch}"`);
        for (const t of a.tensors) checkAgainstBase(base, basePath, t.name, t.ne, input);
        if (path.resolve(input) !== path.resolve(out)) fs.copyFileSync(input, out);
        const r = a.tensors.find((t) => t.name.endsWith(".lora_a"))?.ne[1] ?? 0;
        return { out, rank: r, alpha: getMeta<number>(a, "adapter.lora.alpha") ?? r, tensors: a.tensors.length, from: "gguf" };
    }
    const dir = isDir ? input : path.dirname(input);
    const weights = isDir ? path.join(dir, "adapter_model.safetensors") : input;
    if (!fs.existsSync(weights)) {
        const bin = path.join(dir, "adapter_model.bin");
        throw new Error(
            fs.existsSync(bin)
                ? `${bin}: PyTorch pickles are not read; save the adapter with safe_serialization=True (adapter_model.safetensors)`
                : `${dir}: no adapter_model.safetensors`,
        );
    }
    const cfg = readPeftConfig(path.join(dir, "adapter_config.json"));
    const { tensors } = readSafetensors(weights);
    if (tensors.length === 0) throw new Error(`${weights}: no tensors`);
    const out2: { name: string; ne: number[]; type: GGMLType.F32; data: Float32Array }[] = [];
    for (const t of tensors) {
        const name = ggufLoraName(t.name);
        if (!name)
            throw new Error(
                `${weights}: tensor "${t.name}" is not a LoRA A/B weight of a q/k/v/o/gate/up/down projection (embedding, lm_head and bias adapters are not supported)`,
            );
        if (t.shape.length !== 2) throw new Error(`${weights}: tensor "${t.name}" has ${t.shape.length} dimensions, expected 2`);
        const rank = name.endsWith(".lora_a") ? t.shape[0]! : t.shape[1]!;
        if (rank !== cfg.r) throw new Error(`${weights}: tensor "${t.name}" has rank ${rank}, adapter_config.json says r=${cfg.r}`);
        const ne = [t.shape[1]!, t.shape[0]!];
        checkAgainstBase(base, basePath, name, ne, weights);
        out2.push({ name, ne, type: GGMLType.F32, data: permuteLoraB(name, t.data, ne, llamaHeadDim(base), true) });
    }
    for (const t of out2) {
        const other = t.name.endsWith(".lora_a") ? t.name.replace(/a$/, "b") : t.name.replace(/b$/, "a");
        if (!out2.some((x) => x.name === other)) throw new Error(`${weights}: ${peftLoraName(t.name)} has no matching ${peftLoraName(other)}`);
    }
    const alpha = cfg.use_rslora ? cfg.lora_alpha * Math.sqrt(cfg.r) : cfg.lora_alpha;
    writeGGUF(
        out,
        [
            ["general.type", kvString("adapter")],
            ["general.architecture", kvString(arch)],
            ["adapter.type", kvString("lora")],
            ["adapter.lora.alpha", kvF32(alpha)],
        ],
        out2,
    );
    return { out, rank: cfg.r, alpha, tensors: out2.length, from: "peft" };
}

/**
 * A GGUF LoRA adapter written as a PEFT folder (adapter_config.json + adapter_model.safetensors), for tools that
 * read PEFT. `basePath` is the adapter's base GGUF: checked against, and for `llama` it gives the head size that
 * puts q/k rows back in HF order.
 */
export function writePeftAdapter(ggufAdapter: string, outDir: string, baseModelName: string, basePath: string): void {
    const a = readGGUF(ggufAdapter);
    if (getMeta(a, "adapter.type") !== "lora") throw new Error(`${ggufAdapter}: not a LoRA adapter GGUF`);
    if (!fs.existsSync(basePath)) throw new Error(`--base: no such file ${basePath}`);
    const base = readGGUF(basePath);
    if (getMeta(a, "general.architecture") !== getMeta(base, "general.architecture")) {
        throw new Error(
            `${ggufAdapter}: adapter architecture "${getMeta(a, "general.architecture")}" does not match the base's "${getMeta(base, "general.architecture")}" (${basePath})`,
        );
    }
    for (const t of a.tensors) checkAgainstBase(base, basePath, t.name, t.ne, ggufAdapter);
    const hd = llamaHeadDim(base);
    const tensors = a.tensors.map((t) => ({
        name: peftLoraName(t.name),
        shape: [t.ne[1]!, t.ne[0]!],
        data: permuteLoraB(t.name, readTensorF32(a, t.name), t.ne, hd, false),
    }));
    const r = a.tensors.find((t) => t.name.endsWith(".lora_a"))!.ne[1]!;
    const modules = [...new Set(tensors.map((t) => /\.(\w+_proj)\.lora_/.exec(t.name)![1]!))];
    const config = {
        peft_type: "LORA",
        task_type: "CAUSAL_LM",
        base_model_name_or_path: baseModelName,
        r,
        lora_alpha: getMeta<number>(a, "adapter.lora.alpha") ?? r,
        lora_dropout: 0,
        target_modules: modules,
        bias: "none",
        fan_in_fan_out: false,
        use_rslora: false,
        use_dora: false,
    };
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
    writeSafetensors(path.join(outDir, "adapter_model.safetensors"), tensors, { format: "pt" });
}
