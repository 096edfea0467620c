/**
 * `sublab export-onnx MODEL.gguf [--lora A.gguf] --out DIR`: a llama/qwen2 GGUF (an adapter merged in) as a
 * folder that @huggingface/transformers loads with AutoModelForCausalLM and AutoTokenizer:
 *
 *   config.json, generation_config.json, tokenizer.json, tokenizer_config.json (with the chat template)
 *   onnx/model.onnx   fp32, IR 8, opset 17; inputs input_ids, attention_mask, position_ids (int64) and
 *                     past_key_values.N.key/value [batch_size, kv heads, past, head dim]; outputs logits and
 *                     present.N.key/value (transformers.js builds its KV cache from these names and shapes)
 *
 * The graph is the model's own: RMSNorm, rotary embeddings, grouped-query causal attention with the
 * attention mask, SwiGLU. llama GGUFs store q/k rows permuted for llama.cpp's interleaved rotary embedding;
 * they are put back in Hugging Face's order (rotate_half), as the HF -> GGUF converter permuted them (qwen2
 * GGUFs are not permuted). The tokenizer is a BPE tokenizer.json whose merges are ranked by the GGUF's piece
 * scores, with byte fallback and the BOS post-processor, which reproduces llama.cpp's SPM tokenization.
 */
import fs from "node:fs";
import path from "node:path";
import { getMeta, readGGUF, readTensorF32, type GGUFFile } from "../engine/gguf.ts";
import { DataType, f32Bytes, i64Bytes, modelProto, nodeProto, tensorProto, valueInfo, type Attribute, type Message } from "./protobuf.ts";
import { hfRowToGguf } from "./peft.ts";

const TOKEN_NORMAL = 1;

export interface OnnxExportResult {
    dir: string;
    arch: string;
    parameters: number;
    nodes: number;
    bytes: number;
}

/** The adapter's update of every adapted weight, scaled by alpha / rank, in ggml layout ([out][in] row-major). */
function loraDeltas(adapterPath: string, base: GGUFFile): Map<string, Float32Array> {
    const a = readGGUF(adapterPath);
    if (getMeta(a, "adapter.type") !== "lora") throw new Error(`--lora ${adapterPath}: not a LoRA adapter GGUF`);
    const deltas = new Map<string, Float32Array>();
    for (const t of a.tensors) {
        if (!t.name.endsWith(".lora_a")) continue;
        const weight = t.name.slice(0, -".lora_a".length);
        const w = base.tensors.find((x) => x.name === weight);
        const bInfo = a.tensors.find((x) => x.name === `${weight}.lora_b`);
        if (!w || !bInfo) throw new Error(`--lora ${adapterPath}: ${t.name} has no ${w ? `${weight}.lora_b` : `base tensor ${weight}`}`);
        const [inD, r] = t.ne as [number, number];
        const outD = bInfo.ne[1]!;
        if (w.ne[0] !== inD || w.ne[1] !== outD)
            throw new Error(`--lora ${adapterPath}: ${weight} is [${w.ne}] in the base, the adapter makes [${inD},${outD}] (wrong base model?)`);
        const scale = (getMeta<number>(a, "adapter.lora.alpha") ?? r) / r;
        const A = readTensorF32(a, t.name); // [r][in]
        const B = readTensorF32(a, bInfo.name); // [out][r]
        const d = new Float32Array(outD * inD);
        for (let o = 0; o < outD; o++) {
            for (let k = 0; k < r; k++) {
                const bk = B[o * r + k]! * scale;
                if (bk === 0) continue;
                for (let i = 0; i < inD; i++) d[o * inD + i]! += bk * A[k * inD + i]!;
            }
        }
        deltas.set(weight, d);
    }
    return deltas;
}

export function exportOnnx(ggufPath: string, outDir: string, opts: { lora?: string | null; version: string }): OnnxExportResult {
    if (!fs.existsSync(ggufPath)) throw new Error(`export-onnx: no such model ${ggufPath}`);
    const file = readGGUF(ggufPath);
    const arch = getMeta<string>(file, "general.architecture");
    if (arch !== "llama" && arch !== "qwen2") throw new Error(`export-onnx: architecture "${arch}" is not supported (llama, qwen2)`);
    if (file.tensors.some((t) => t.name === "rope_freqs.weight")) {
        throw new Error(`export-onnx: ${ggufPath} has RoPE frequency factors (rope_freqs.weight, Llama 3.1+), which the ONNX graph does not apply yet`);
    }
    const meta = (k: string) => getMeta<number>(file, `${arch}.${k}`);
    const tokens = getMeta<string[]>(file, "tokenizer.ggml.tokens");
    const scores = getMeta<number[]>(file, "tokenizer.ggml.scores");
    const types = getMeta<number[]>(file, "tokenizer.ggml.token_type");
    if (getMeta(file, "tokenizer.ggml.model") !== "llama" || !tokens || !scores || !types) {
        throw new Error(
            `export-onnx: ${ggufPath} has a "${getMeta(file, "tokenizer.ggml.model")}" tokenizer; only SentencePiece ("llama") vocabularies with scores are converted yet`,
        );
    }
    const d = Number(meta("embedding_length"));
    const L = Number(meta("block_count"));
    const H = Number(meta("attention.head_count"));
    const Hkv = Number(meta("attention.head_count_kv") ?? H);
    const ff = Number(meta("feed_forward_length"));
    const ctxLen = Number(meta("context_length"));
    const theta = Number(meta("rope.freq_base") ?? 10000);
    const eps = Number(meta("attention.layer_norm_rms_epsilon") ?? 1e-5);
    const hd = d / H;
    const has = (n: string) => file.tensors.some((t) => t.name === n);
    const V = Number(file.tensors.find((t) => t.name === "token_embd.weight")!.ne[1]);
    const tied = !has("output.weight");
    const deltas = opts.lora ? loraDeltas(opts.lora, file) : new Map<string, Float32Array>();

    const nodes: Message[] = [];
    const inits: Message[] = [];
    let uid = 0;
    let parameters = 0;
    let bytes = 0;
    const op = (type: string, inputs: string[], attrs: Record<string, Attribute> = {}): string => {
        const out = `${type}_${uid++}`;
        nodes.push(nodeProto(type, inputs, [out], out, attrs));
        return out;
    };
    const i64 = (name: string, v: number[], dims = [v.length]) => (inits.push(tensorProto(name, DataType.INT64, dims, i64Bytes(v))), name);
    const f32 = (name: string, v: Float32Array, dims: number[]) => {
        inits.push(tensorProto(name, DataType.FLOAT, dims, f32Bytes(v)));
        bytes += v.byteLength;
        if (bytes > 2 ** 31 - 2 ** 24)
            throw new Error(`export-onnx: the weights pass 2 GiB, the limit of one ONNX file without external data (not written yet)`);
        return name;
    };
    const weightF32 = (name: string) => {
        const w = readTensorF32(file, name);
        const delta = deltas.get(name);
        if (delta) for (let i = 0; i < w.length; i++) w[i]! += delta[i]!;
        parameters += w.length;
        return w;
    };
    // llama GGUFs hold q/k rows in llama.cpp's interleaved order (hfRowToGguf).
    const qkOrder = arch === "llama" ? (row: number) => hfRowToGguf(row, hd) : undefined;
    /** A ggml matrix ne = [in, out] as an ONNX MatMul weight [in, out], rows optionally reordered. */
    const linear = (name: string, order?: (row: number) => number) => {
        const info = file.tensors.find((t) => t.name === name)!;
        const [inD, outD] = [Number(info.ne[0]), Number(info.ne[1])];
        const w = weightF32(name);
        const t = new Float32Array(inD * outD);
        for (let o = 0; o < outD; o++) {
            const src = order ? order(o) : o;
            for (let i = 0; i < inD; i++) t[i * outD + o] = w[src * inD + i]!;
        }
        return f32(name, t, [inD, outD]);
    };
    const vector = (name: string, order?: (row: number) => number) => {
        const w = weightF32(name);
        return f32(name, order ? Float32Array.from(w, (_, i) => w[order(i)]!) : w, [w.length]);
    };

    const inputs = [
        valueInfo("input_ids", DataType.INT64, ["batch_size", "sequence_length"]),
        valueInfo("attention_mask", DataType.INT64, ["batch_size", "total_sequence_length"]),
        valueInfo("position_ids", DataType.INT64, ["batch_size", "sequence_length"]),
    ];
    const outputs = [valueInfo("logits", DataType.FLOAT, ["batch_size", "sequence_length", V])];
    for (let l = 0; l < L; l++) {
        for (const kv of ["key", "value"]) {
            inputs.push(valueInfo(`past_key_values.${l}.${kv}`, DataType.FLOAT, ["batch_size", Hkv, "past_sequence_length", hd]));
            outputs.push(valueInfo(`present.${l}.${kv}`, DataType.FLOAT, ["batch_size", Hkv, "total_sequence_length", hd]));
        }
    }

    const axesLast = i64("axes_last", [-1]);
    const ax0 = i64("ax0", [0]);
    const ax1 = i64("ax1", [1]);
    const ax2 = i64("ax2", [2]);
    const ax12 = i64("ax12", [1, 2]);
    const epsC = f32("rms_eps", Float32Array.of(eps), []);
    const shapeQ = i64("shape_q", [0, 0, H, hd]);
    const shapeKV = i64("shape_kv", [0, 0, Hkv, hd]);
    const shapeMerge = i64("shape_merge", [0, 0, H * hd]);
    const scale = f32("attn_scale", Float32Array.of(1 / Math.sqrt(hd)), []);
    const zeroF = f32("zero_f", Float32Array.of(0), []);
    const negF = f32("neg_big", Float32Array.of(-1e9), []);
    const oneI = i64("one_i", [1], []);
    const zeroI = i64("zero_i", [0], []);

    const rmsnorm = (x: string, w: string) => {
        const mean = op("ReduceMean", [op("Mul", [x, x])], { axes: [-1], keepdims: 1 });
        return op("Mul", [op("Div", [x, op("Sqrt", [op("Add", [mean, epsC])])]), w]);
    };

    const embW = weightF32("token_embd.weight"); // [V][d]
    let x = op("Gather", [f32("token_embd.weight", embW, [V, d]), "input_ids"], { axis: 0 });

    // Rotary tables from position_ids (rotate_half layout: frequency j % (hd/2) at dimension j).
    const invFreq = Float32Array.from({ length: hd }, (_, j) => 1 / Math.pow(theta, (2 * (j % (hd / 2))) / hd));
    const angle = op("Mul", [op("Unsqueeze", [op("Cast", ["position_ids"], { to: DataType.FLOAT }), ax2]), f32("inv_freq", invFreq, [hd])]);
    const cos = op("Unsqueeze", [op("Cos", [angle]), ax1]); // [B,1,T,hd]
    const sin = op("Unsqueeze", [op("Sin", [angle]), ax1]);
    const hA = i64("half_a", [0]);
    const hB = i64("half_b", [hd / 2]);
    const hE = i64("half_e", [hd]);
    const rope = (t: string) => {
        const x1 = op("Slice", [t, hA, hB, axesLast]);
        const x2 = op("Slice", [t, hB, hE, axesLast]);
        return op("Add", [op("Mul", [t, cos]), op("Mul", [op("Concat", [op("Neg", [x2]), x1], { axis: -1 }), sin])]);
    };

    // Attention bias [B,1,T,S]: key j is visible to query t when j <= S - T + t and attention_mask[b, j] = 1.
    const S = op("Gather", [op("Shape", ["attention_mask"]), oneI], { axis: 0 });
    const T = op("Gather", [op("Shape", ["input_ids"]), oneI], { axis: 0 });
    const keys = op("Unsqueeze", [op("Range", [zeroI, S, oneI]), ax0]);
    const queries = op("Unsqueeze", [op("Range", [op("Sub", [S, T]), S, oneI]), ax1]);
    const visible = op("And", [op("LessOrEqual", [keys, queries]), op("Unsqueeze", [op("Cast", ["attention_mask"], { to: DataType.BOOL }), ax12])]);
    const bias = op("Where", [visible, zeroF, negF]);

    const groups = H / Hkv;
    for (let l = 0; l < L; l++) {
        const p = `blk.${l}.`;
        const h = rmsnorm(x, vector(`${p}attn_norm.weight`));
        const proj = (w: string, order?: (row: number) => number) => {
            const y = op("MatMul", [h, linear(`${p}${w}.weight`, order)]);
            return has(`${p}${w}.bias`) ? op("Add", [y, vector(`${p}${w}.bias`, order)]) : y;
        };
        const heads = (t: string, shape: string) => op("Transpose", [op("Reshape", [t, shape])], { perm: [0, 2, 1, 3] });
        const q = rope(heads(proj("attn_q", qkOrder), shapeQ));
        let k = op("Concat", [`past_key_values.${l}.key`, rope(heads(proj("attn_k", qkOrder), shapeKV))], { axis: 2 });
        let v = op("Concat", [`past_key_values.${l}.value`, heads(proj("attn_v"), shapeKV)], { axis: 2 });
        nodes.push(nodeProto("Identity", [k], [`present.${l}.key`], `present_${l}_key`));
        nodes.push(nodeProto("Identity", [v], [`present.${l}.value`], `present_${l}_value`));
        if (groups > 1) {
            // [B,Hkv,S,hd] -> [B,Hkv,groups,S,hd] -> [B,H,S,hd]: query head h reads kv head floor(h / groups).
            const tile = i64(`tile_${l}`, [1, 1, groups, 1, 1]);
            const shape = i64(`shape_groups_${l}`, [0, H, -1, hd]);
            k = op("Reshape", [op("Tile", [op("Unsqueeze", [k, ax2]), tile]), shape]);
            v = op("Reshape", [op("Tile", [op("Unsqueeze", [v, ax2]), tile]), shape]);
        }
        const att = op("Add", [op("Mul", [op("MatMul", [q, op("Transpose", [k], { perm: [0, 1, 3, 2] })]), scale]), bias]);
        const ctx = op("Reshape", [op("Transpose", [op("MatMul", [op("Softmax", [att], { axis: -1 }), v])], { perm: [0, 2, 1, 3] }), shapeMerge]);
        x = op("Add", [x, op("MatMul", [ctx, linear(`${p}attn_output.weight`)])]);
        const h2 = rmsnorm(x, vector(`${p}ffn_norm.weight`));
        const gate = op("MatMul", [h2, linear(`${p}ffn_gate.weight`)]);
        const up = op("MatMul", [h2, linear(`${p}ffn_up.weight`)]);
        x = op("Add", [x, op("MatMul", [op("Mul", [op("Mul", [gate, op("Sigmoid", [gate])]), up]), linear(`${p}ffn_down.weight`)])]);
    }
    let head: string;
    if (tied) {
        const t = new Float32Array(d * V);
        for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) t[i * V + v] = embW[v * d + i]!;
        head = f32("lm_head", t, [d, V]);
    } else head = linear("output.weight");
    nodes.push(nodeProto("MatMul", [rmsnorm(x, vector("output_norm.weight")), head], ["logits"], "lm_head"));

    fs.mkdirSync(path.join(outDir, "onnx"), { recursive: true });
    fs.writeFileSync(
        path.join(outDir, "onnx", "model.onnx"),
        modelProto({ irVersion: 8, opset: 17, producer: "sublab", version: opts.version, name: "main_graph", nodes, initializers: inits, inputs, outputs }),
    );

    const bos = Number(getMeta(file, "tokenizer.ggml.bos_token_id") ?? 1);
    const eos = Number(getMeta(file, "tokenizer.ggml.eos_token_id") ?? 2);
    const unk = Number(getMeta(file, "tokenizer.ggml.unknown_token_id") ?? 0);
    const addBos = Boolean(getMeta(file, "tokenizer.ggml.add_bos_token") ?? true);
    const config = {
        architectures: [arch === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
        model_type: arch,
        vocab_size: V,
        hidden_size: d,
        intermediate_size: ff,
        num_hidden_layers: L,
        num_attention_heads: H,
        num_key_value_heads: Hkv,
        head_dim: hd,
        max_position_embeddings: ctxLen,
        rms_norm_eps: eps,
        rope_theta: theta,
        hidden_act: "silu",
        tie_word_embeddings: tied,
        bos_token_id: bos,
        eos_token_id: eos,
        torch_dtype: "float32",
        "transformers.js_config": { dtype: "fp32" },
    };
    const write = (name: string, v: unknown) => fs.writeFileSync(path.join(outDir, name), JSON.stringify(v, null, 2) + "\n");
    write("config.json", config);
    write("generation_config.json", { bos_token_id: bos, eos_token_id: eos });
    fs.writeFileSync(path.join(outDir, "tokenizer.json"), JSON.stringify(tokenizerJson(tokens, scores, types, { bos, unk, addBos })));
    write("tokenizer_config.json", {
        tokenizer_class: "LlamaTokenizer",
        bos_token: tokens[bos],
        eos_token: tokens[eos],
        unk_token: tokens[unk],
        pad_token: null,
        add_bos_token: addBos,
        add_eos_token: false,
        clean_up_tokenization_spaces: false,
        legacy: true,
        model_max_length: ctxLen,
        chat_template: getMeta<string>(file, "tokenizer.chat_template") ?? undefined,
    });
    write("sublab-export.json", {
        source: path.resolve(ggufPath),
        lora: opts.lora ? path.resolve(opts.lora) : null,
        sublabVersion: opts.version,
        createdAt: new Date().toISOString(),
    });
    return { dir: outDir, arch, parameters, nodes: nodes.length, bytes };
}

/**
 * An SPM vocabulary with scores as a BPE tokenizer.json: every split of a normal piece into two normal pieces is
 * a merge, ranked by the merged piece's score (SPM merges the best-scoring pair first); byte fallback for the
 * rest; "▁" for spaces and a prepended "▁", as llama.cpp's SPM tokenizer does.
 */
function tokenizerJson(tokens: string[], scores: number[], types: number[], o: { bos: number; unk: number; addBos: boolean }): unknown {
    const vocab: Record<string, number> = {};
    tokens.forEach((t, i) => {
        if (!(t in vocab)) vocab[t] = i;
    });
    const ids = new Map(tokens.map((t, i) => [t, i]));
    const merges: [string, string, number, number][] = [];
    tokens.forEach((piece, id) => {
        if (types[id] !== TOKEN_NORMAL) return;
        const chars = [...piece];
        for (let k = 1; k < chars.length; k++) {
            const left = chars.slice(0, k).join("");
            const right = chars.slice(k).join("");
            const li = ids.get(left);
            const ri = ids.get(right);
            if (li !== undefined && ri !== undefined && types[li] === TOKEN_NORMAL && types[ri] === TOKEN_NORMAL) merges.push([left, right, scores[id]!, id]);
        }
    });
    merges.sort((a, b) => b[2] - a[2] || a[3] - b[3]);
    // Control (3), unknown (2) and user-defined (4) tokens match whole, before the model splits text.
    const special = tokens.map((t, i) => ({ t, i })).filter(({ i }) => types[i] === 2 || types[i] === 3 || types[i] === 4);
    const bos = tokens[o.bos]!;
    return {
        version: "1.0",
        truncation: null,
        padding: null,
        added_tokens: special.map(({ t, i }) => ({
            id: i,
            content: t,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special: types[i] !== 4,
        })),
        normalizer: {
            type: "Sequence",
            normalizers: [
                { type: "Prepend", prepend: "\u2581" },
                { type: "Replace", pattern: { String: " " }, content: "\u2581" },
            ],
        },
        pre_tokenizer: null,
        post_processor: o.addBos
            ? {
                  type: "TemplateProcessing",
                  single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
                  pair: [
                      { SpecialToken: { id: bos, type_id: 0 } },
                      { Sequence: { id: "A", type_id: 0 } },
                      { SpecialToken: { id: bos, type_id: 1 } },
                      { Sequence: { id: "B", type_id: 1 } },
                  ],
                  special_tokens: { [bos]: { id: bos, ids: [o.bos], tokens: [bos] } },
              }
            : null,
        decoder: {
            type: "Sequence",
            decoders: [
                { type: "Replace", pattern: { String: "\u2581" }, content: " " },
                { type: "ByteFallback" },
                { type: "Fuse" },
                { type: "Strip", content: " ", start: 1, stop: 0 },
            ],
        },
        model: {
            type: "BPE",
            dropout: null,
            unk_token: tokens[o.unk],
            continuing_subword_prefix: null,
            end_of_word_suffix: null,
            fuse_unk: true,
            byte_fallback: true,
            ignore_merges: false,
            vocab,
            merges: merges.map(([a, b]) => [a, b]),
        },
    };
}
