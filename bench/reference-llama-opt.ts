/**
 * llama.cpp's own training loop (llama_opt_init + llama_opt_epoch) as a reference for `npm run bench -- train`,
 * called through the libllama that node-llama-cpp ships. Prints one BenchResult JSON line.
 *
 *   npx tsx bench/reference-llama-opt.ts --config small [--seconds 15] [--threads 2] [--kv-type f32|f16] [--no-decode]
 *
 * The model is a GGUF written by sublab's own createModel + SPM vocab (cached under .bench/), made in a
 * separate process so that its memory is not counted in this process's peak RSS.
 * C signatures and struct layouts are from the headers of llama.cpp release v0.5.0 (node-llama-cpp 3.22.1).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import koffi from "koffi";
import { getGgml, GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_I32, PINNED_LLAMA_CPP_RELEASE } from "../src/engine/ggml.ts";
import { createModel } from "../src/engine/model.ts";
import { makeSpmVocab } from "../src/engine/vocab.ts";
import { CONFIGS, median, resourceFields, T, THREADS, tokenRows, VOCAB, type BenchResult, type ConfigName } from "./train-common.ts";

const WARMUP_ROWS = 3;
const { values: args } = parseArgs({
    options: {
        config: { type: "string", default: "small" },
        seconds: { type: "string", default: "15" },
        threads: { type: "string", default: String(THREADS) },
        // Skips the one llama_decode that sets the CPU backend's thread count: shows the pitfall below.
        "no-decode": { type: "boolean", default: false },
        // llama.cpp's default KV cache is f16; the training graph then converts K and V through it.
        "kv-type": { type: "string", default: "f32" },
        "write-model": { type: "string" },
    },
});
const configName = args.config as ConfigName;
if (!(configName in CONFIGS)) throw new Error(`--config must be one of ${Object.keys(CONFIGS).join(", ")}, got ${args.config}`);
const c = CONFIGS[configName];
const threads = Number(args.threads);
const kvType = { f32: GGML_TYPE_F32, f16: GGML_TYPE_F16 }[args["kv-type"]!];
if (kvType === undefined) throw new Error(`--kv-type must be f32 or f16, got ${args["kv-type"]}`);

/** A GGUF llama.cpp loads: the bench config with seeded weights and a 2048-token SPM vocabulary. */
function writeModel(file: string): void {
    // makeSpmVocab([]) holds the special, byte and single-character tokens; two-character pieces fill the
    // rest (each adds exactly one token, since a piece's only proper prefix is a single character).
    const base = makeSpmVocab([]).tokens.length;
    const chars = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i));
    const pieces = chars.flatMap((a) => chars.map((b) => a + b)).slice(0, VOCAB - base);
    const vocab = makeSpmVocab(pieces);
    if (vocab.tokens.length !== VOCAB) throw new Error(`vocab has ${vocab.tokens.length} tokens, expected ${VOCAB}`);
    const model = createModel({ vocabSize: VOCAB, ...c, contextLength: T }, 0, vocab.metadata, getGgml({ backend: "cpu" }));
    model.save(file);
    model.free();
}

if (args["write-model"]) {
    writeModel(args["write-model"]);
    process.exit(0);
}

// The shape is in the name, so that a changed config never trains a stale cached model.
const modelFile = path.resolve(".bench", `llama-opt-d${c.dModel}-l${c.nLayers}-h${c.nHeads}-ff${c.dFF}-v${VOCAB}.gguf`);
if (!fs.existsSync(modelFile)) {
    fs.mkdirSync(path.dirname(modelFile), { recursive: true });
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--config", configName, "--write-model", modelFile], {
        stdio: "inherit",
    });
    if (r.status !== 0) throw new Error(`writing ${modelFile} failed (exit ${r.status})`);
}

// --- bindings ---------------------------------------------------------------------------------------------
// getGgml loads libggml-base and the best CPU variant from node-llama-cpp's folder (after checking the pinned
// version); libllama from the same folder then shares that backend registry.
const g = getGgml({ backend: "cpu", threads });
const llamaFile = fs.readdirSync(g.libDir).find((f) => /^libllama\.v[\d.]+\.so$/.test(f));
if (!llamaFile) throw new Error(`no libllama.v*.so in ${g.libDir}`);
const lib = koffi.load(path.join(g.libDir, llamaFile));
const base = koffi.load(path.join(g.libDir, "libggml-base.so"));

koffi.struct("llama_model_params", {
    devices: "void *",
    tensor_buft_overrides: "void *",
    n_gpu_layers: "int32_t",
    split_mode: "int",
    load_mode: "int",
    lazy_mode: "int",
    main_gpu: "int32_t",
    tensor_split: "void *",
    progress_callback: "void *",
    progress_callback_user_data: "void *",
    kv_overrides: "void *",
    vocab_only: "bool",
    check_tensors: "bool",
    use_extra_bufts: "bool",
    no_host: "bool",
    no_alloc: "bool",
    load_mtp: "bool",
});
koffi.struct("llama_context_params", {
    n_ctx: "uint32_t",
    n_batch: "uint32_t",
    n_ubatch: "uint32_t",
    n_seq_max: "uint32_t",
    n_rs_seq: "uint32_t",
    n_outputs_max: "uint32_t",
    n_outputs_max_per_seq: "uint32_t",
    n_threads: "int32_t",
    n_threads_batch: "int32_t",
    ctx_type: "int",
    rope_scaling_type: "int",
    pooling_type: "int",
    attention_type: "int",
    flash_attn_type: "int",
    rope_freq_base: "float",
    rope_freq_scale: "float",
    yarn_ext_factor: "float",
    yarn_attn_factor: "float",
    yarn_beta_fast: "float",
    yarn_beta_slow: "float",
    yarn_orig_ctx: "uint32_t",
    defrag_thold: "float",
    cb_eval: "void *",
    cb_eval_user_data: "void *",
    type_k: "int",
    type_v: "int",
    abort_callback: "void *",
    abort_callback_data: "void *",
    embeddings: "bool",
    offload_kqv: "bool",
    no_perf: "bool",
    op_offload: "bool",
    swa_full: "bool",
    kv_unified: "bool",
    samplers: "void *",
    n_samplers: "size_t",
    ctx_other: "void *",
});
koffi.struct("llama_batch", { n_tokens: "int32_t", token: "void *", embd: "void *", pos: "void *", n_seq_id: "void *", seq_id: "void *", logits: "void *" });
koffi.struct("ggml_opt_optimizer_params", {
    adamw: koffi.struct({ alpha: "float", beta1: "float", beta2: "float", eps: "float", wd: "float" }),
    sgd: koffi.struct({ alpha: "float", wd: "float" }),
});
const GetOptPars = koffi.proto("ggml_opt_optimizer_params get_opt_pars_t(void *ud)");
const ParamFilter = koffi.proto("bool llama_opt_param_filter_t(void *tensor, void *ud)");
const EpochCallback = koffi.proto(
    "void epoch_cb_t(bool train, void *opt, void *dataset, void *result, int64_t ibatch, int64_t ibatch_max, int64_t t_start_us)",
);
const LogCallback = koffi.proto("void llama_log_cb_t(int level, const char *text, void *ud)");
koffi.struct("llama_opt_params", {
    n_ctx_train: "uint32_t",
    param_filter: koffi.pointer(ParamFilter),
    param_filter_ud: "void *",
    get_opt_pars: koffi.pointer(GetOptPars),
    get_opt_pars_ud: "void *",
    optimizer_type: "int",
});

const f = (l: ReturnType<typeof koffi.load>, proto: string) => l.func(proto);
const llama = {
    log_set: f(lib, "void llama_log_set(llama_log_cb_t *cb, void *ud)"),
    backend_init: f(lib, "void llama_backend_init()"),
    model_default_params: f(lib, "llama_model_params llama_model_default_params()"),
    context_default_params: f(lib, "llama_context_params llama_context_default_params()"),
    model_load_from_file: f(lib, "void *llama_model_load_from_file(const char *path, llama_model_params params)"),
    model_n_params: f(lib, "uint64_t llama_model_n_params(void *model)"),
    init_from_model: f(lib, "void *llama_init_from_model(void *model, llama_context_params params)"),
    batch_get_one: f(lib, "llama_batch llama_batch_get_one(int32_t *tokens, int32_t n)"),
    decode: f(lib, "int32_t llama_decode(void *ctx, llama_batch batch)"),
    opt_init: f(lib, "void llama_opt_init(void *ctx, void *model, llama_opt_params params)"),
    opt_epoch: f(
        lib,
        "void llama_opt_epoch(void *ctx, void *dataset, void *result_train, void *result_eval, int64_t idata_split, epoch_cb_t *cb_train, epoch_cb_t *cb_eval)",
    ),
    free: f(lib, "void llama_free(void *ctx)"),
    model_free: f(lib, "void llama_model_free(void *model)"),
    dataset_init: f(
        base,
        "void *ggml_opt_dataset_init(int type_data, int type_label, int64_t ne_datapoint, int64_t ne_label, int64_t ndata, int64_t ndata_shard)",
    ),
    dataset_data: f(base, "void *ggml_opt_dataset_data(void *dataset)"),
    dataset_labels: f(base, "void *ggml_opt_dataset_labels(void *dataset)"),
    dataset_free: f(base, "void ggml_opt_dataset_free(void *dataset)"),
    result_init: f(base, "void *ggml_opt_result_init()"),
    result_loss: f(base, "void ggml_opt_result_loss(void *result, _Out_ double *loss, _Out_ double *unc)"),
    result_free: f(base, "void ggml_opt_result_free(void *result)"),
};

// --- model, context, optimizer -----------------------------------------------------------------------------
// llama.cpp logs every load step to stderr; keep errors (level 4) only.
const logCb = koffi.register((level: number, text: string) => void (level === 4 && process.stderr.write(text)), koffi.pointer(LogCallback));
llama.log_set(logCb, null);
llama.backend_init();

const mDefaults = llama.model_default_params();
const cDefaults = llama.context_default_params();
// Guards against struct layouts that do not match this libllama: these are the defaults in its source.
if (mDefaults.load_mode !== -1 || mDefaults.use_extra_bufts !== true || cDefaults.n_ctx !== 512 || cDefaults.n_ubatch !== 512) {
    throw new Error(`llama_model_params/llama_context_params layout mismatch: is libllama llama.cpp ${PINNED_LLAMA_CPP_RELEASE}?`);
}
// The default load mode mmaps the file read-only, and the first AdamW step writing a weight segfaults:
// read the weights into buffers of their own (load_mode NONE), and no repacked weight buffers either.
const model = llama.model_load_from_file(modelFile, { ...mDefaults, n_gpu_layers: 0, load_mode: 0, lazy_mode: 0, use_extra_bufts: false });
if (!model) throw new Error(`llama_model_load_from_file failed for ${modelFile}`);
// One row per optimizer step: n_ctx = n_batch = n_ubatch = T (opt_period = n_batch / n_ubatch = 1).
// Flash attention has no backward pass; llama_opt_init would turn it off and reserve the graph again.
// An f32 KV cache: with the default f16 one, training measured 1.6x slower (small ~8,600 vs ~14,000 tok/s,
// medium ~2,200 vs ~3,600).
const ctx = llama.init_from_model(model, {
    ...cDefaults,
    n_ctx: T,
    n_batch: T,
    n_ubatch: T,
    n_threads: threads,
    n_threads_batch: threads,
    flash_attn_type: 0,
    type_k: kvType,
    type_v: kvType,
});
if (!ctx) throw new Error("llama_init_from_model failed");

// PITFALL: llama_opt_epoch computes through ggml_opt on the context's scheduler and never sets the CPU
// backend's thread count, which stays at GGML_DEFAULT_N_THREADS (4): on 2 cores that oversubscribes the
// spinning threads (measured: small 270 tok/s against 15,000). Only llama_decode's graph_compute pushes
// cparams.n_threads into the backend; llama_set_n_threads alone only changes cparams (measured: still 270).
// One short decode before training fixes it for good.
if (!args["no-decode"]) {
    const status = llama.decode(ctx, llama.batch_get_one(new Int32Array([1, 2, 3, 4]), 4));
    if (status !== 0) throw new Error(`llama_decode returned ${status}`);
}

// AdamW as in reference-torch.py: lr 1e-3, betas (0.9, 0.999), eps 1e-8, decoupled weight decay 0.01.
const adamw = { adamw: { alpha: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.01 }, sgd: { alpha: 1e-3, wd: 0 } };
const getOptPars = koffi.register(() => adamw, koffi.pointer(GetOptPars));
const paramFilter = koffi.register(() => true, koffi.pointer(ParamFilter)); // all (llama.cpp never trains token_embd)
llama.opt_init(ctx, model, {
    n_ctx_train: 0,
    param_filter: paramFilter,
    param_filter_ud: null,
    get_opt_pars: getOptPars,
    get_opt_pars_ud: null,
    optimizer_type: 0,
});

/** Train one epoch over `nRows` rows of the token stream (after `skipRows`); returns each step's milliseconds. */
function epoch(nRows: number, skipRows: number): { stepMs: number[]; loss: number } {
    const rows = tokenRows(nRows, skipRows);
    const data = new Int32Array(nRows * T);
    const labels = new Int32Array(nRows * T);
    for (let r = 0; r < nRows; r++) {
        data.set(rows.subarray(r * (T + 1), r * (T + 1) + T), r * T);
        labels.set(rows.subarray(r * (T + 1) + 1, (r + 1) * (T + 1)), r * T);
    }
    // Token ids as data and sparse labels, as llama.cpp's common_opt_dataset_init builds them.
    const ds = llama.dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, T, T, nRows, 1);
    g.api.ggml_backend_tensor_set(llama.dataset_data(ds), data, 0, data.byteLength);
    g.api.ggml_backend_tensor_set(llama.dataset_labels(ds), labels, 0, labels.byteLength);
    const result = llama.result_init();
    const stepMs: number[] = [];
    let last = performance.now();
    const cb = koffi.register(() => {
        const now = performance.now();
        stepMs.push(now - last);
        last = now;
    }, koffi.pointer(EpochCallback));
    llama.opt_epoch(ctx, ds, result, null, nRows, cb, null);
    koffi.unregister(cb);
    const loss = [0];
    llama.result_loss(result, loss, [0]);
    llama.result_free(result);
    llama.dataset_free(ds);
    return { stepMs, loss: loss[0] };
}

const warm = epoch(WARMUP_ROWS, 0);
// As many rows as fit the target time, judged from the last warm-up step.
const nRows = Math.max(3, Math.ceil((Number(args.seconds) * 1000) / warm.stepMs.at(-1)!));
const timed = epoch(nRows, WARMUP_ROWS);
const totalMs = timed.stepMs.reduce((a, b) => a + b, 0);
const result: BenchResult = {
    engine: "llama_opt_epoch",
    config: configName,
    params: Number(llama.model_n_params(model)),
    tokens_per_s: T / (median(timed.stepMs) / 1000),
    step_ms_median: median(timed.stepMs),
    ...resourceFields(),
    steps: nRows,
    tokens_per_s_mean: (T * nRows) / (totalMs / 1000),
    loss_mean: timed.loss,
    version: `llama.cpp ${PINNED_LLAMA_CPP_RELEASE} (${llamaFile}), ${threads} threads, KV cache ${args["kv-type"]}${args["no-decode"] ? ", no decode: backend threads unset" : ""}`,
};
llama.free(ctx);
llama.model_free(model);
console.log(JSON.stringify(result));
