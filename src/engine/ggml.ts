/**
 * The one module that binds to ggml: it finds the shared libraries that node-llama-cpp ships, checks the
 * installed node-llama-cpp against the pinned version, loads the best CPU variant (or CUDA when usable),
 * sets the thread count explicitly and exposes the ggml C API to TypeScript through koffi.
 *
 * Nothing else in sublab calls koffi or dlopens a library: other modules import `getGgml()`.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import koffi from "koffi";
import type * as Koffi from "koffi";

/** The node-llama-cpp version whose bundled llama.cpp (release v0.5.0) this binding was written against. */
export const PINNED_NODE_LLAMA_CPP = "3.22.1";
/** The llama.cpp release inside that node-llama-cpp; the C signatures below are from its headers. */
export const PINNED_LLAMA_CPP_RELEASE = "v0.5.0";

export type Ptr = unknown; // an opaque native pointer (koffi external)
export type Tensor = Ptr;

/** ggml_type ids used by the engine (full list in gguf.ts). */
export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;
export const GGML_TYPE_I32 = 26;

export const GGML_ROPE_TYPE_NORMAL = 0;
export const GGML_ROPE_TYPE_NEOX = 2;

const DEVICE_TYPE = { cpu: 0, gpu: 1, igpu: 2, accel: 3 } as const;

export type BackendKind = "cpu" | "cuda";

export interface GgmlOptions {
    /** Compute threads for the CPU backend. Defaults to the number of physical cores reported by os.availableParallelism(). */
    threads?: number;
    /** "auto" picks CUDA when node-llama-cpp's CUDA build loads and finds a GPU, else CPU. Defaults to $SUBLAB_BACKEND or "auto". */
    backend?: BackendKind | "auto";
    /** Print ggml's own log lines (warnings, errors). Defaults to false unless $SUBLAB_GGML_LOG is set. */
    log?: boolean;
}

function declare(lib: Koffi.LibraryHandle) {
    const f = (proto: string) => lib.func(proto);
    return {
        // context + tensors
        ggml_init: f("void *ggml_init(ggml_init_params params)"),
        ggml_free: f("void ggml_free(void *ctx)"),
        ggml_tensor_overhead: f("size_t ggml_tensor_overhead()"),
        ggml_graph_overhead_custom: f("size_t ggml_graph_overhead_custom(size_t size, bool grads)"),
        ggml_new_tensor_1d: f("void *ggml_new_tensor_1d(void *ctx, int type, int64_t ne0)"),
        ggml_new_tensor_2d: f("void *ggml_new_tensor_2d(void *ctx, int type, int64_t ne0, int64_t ne1)"),
        ggml_new_tensor_3d: f("void *ggml_new_tensor_3d(void *ctx, int type, int64_t ne0, int64_t ne1, int64_t ne2)"),
        ggml_new_tensor_4d: f("void *ggml_new_tensor_4d(void *ctx, int type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)"),
        ggml_set_name: f("void *ggml_set_name(void *t, const char *name)"),
        ggml_get_name: f("const char *ggml_get_name(void *t)"),
        ggml_set_param: f("void ggml_set_param(void *t)"),
        ggml_set_loss: f("void ggml_set_loss(void *t)"),
        ggml_set_input: f("void ggml_set_input(void *t)"),
        ggml_set_output: f("void ggml_set_output(void *t)"),
        ggml_nbytes: f("size_t ggml_nbytes(void *t)"),
        ggml_nelements: f("int64_t ggml_nelements(void *t)"),
        ggml_type_size: f("size_t ggml_type_size(int type)"),
        ggml_element_size: f("size_t ggml_element_size(void *t)"),
        // ops
        ggml_dup: f("void *ggml_dup(void *ctx, void *a)"),
        ggml_add: f("void *ggml_add(void *ctx, void *a, void *b)"),
        ggml_sub: f("void *ggml_sub(void *ctx, void *a, void *b)"),
        ggml_mul: f("void *ggml_mul(void *ctx, void *a, void *b)"),
        ggml_div: f("void *ggml_div(void *ctx, void *a, void *b)"),
        ggml_sqr: f("void *ggml_sqr(void *ctx, void *a)"),
        ggml_sqrt: f("void *ggml_sqrt(void *ctx, void *a)"),
        ggml_log: f("void *ggml_log(void *ctx, void *a)"),
        ggml_sum: f("void *ggml_sum(void *ctx, void *a)"),
        ggml_sum_rows: f("void *ggml_sum_rows(void *ctx, void *a)"),
        ggml_scale: f("void *ggml_scale(void *ctx, void *a, float s)"),
        ggml_scale_bias: f("void *ggml_scale_bias(void *ctx, void *a, float s, float b)"),
        ggml_tanh: f("void *ggml_tanh(void *ctx, void *a)"),
        ggml_clamp: f("void *ggml_clamp(void *ctx, void *a, float min, float max)"),
        ggml_silu: f("void *ggml_silu(void *ctx, void *a)"),
        ggml_relu: f("void *ggml_relu(void *ctx, void *a)"),
        ggml_swiglu_split: f("void *ggml_swiglu_split(void *ctx, void *a, void *b)"),
        ggml_rms_norm: f("void *ggml_rms_norm(void *ctx, void *a, float eps)"),
        ggml_mul_mat: f("void *ggml_mul_mat(void *ctx, void *a, void *b)"),
        ggml_out_prod: f("void *ggml_out_prod(void *ctx, void *a, void *b)"),
        ggml_get_rows: f("void *ggml_get_rows(void *ctx, void *a, void *b)"),
        ggml_cpy: f("void *ggml_cpy(void *ctx, void *a, void *b)"),
        ggml_cont: f("void *ggml_cont(void *ctx, void *a)"),
        ggml_repeat_4d: f("void *ggml_repeat_4d(void *ctx, void *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)"),
        ggml_reshape_2d: f("void *ggml_reshape_2d(void *ctx, void *a, int64_t ne0, int64_t ne1)"),
        ggml_reshape_3d: f("void *ggml_reshape_3d(void *ctx, void *a, int64_t ne0, int64_t ne1, int64_t ne2)"),
        ggml_reshape_4d: f("void *ggml_reshape_4d(void *ctx, void *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)"),
        ggml_view_1d: f("void *ggml_view_1d(void *ctx, void *a, int64_t ne0, size_t offset)"),
        ggml_view_2d: f("void *ggml_view_2d(void *ctx, void *a, int64_t ne0, int64_t ne1, size_t nb1, size_t offset)"),
        ggml_view_4d: f(
            "void *ggml_view_4d(void *ctx, void *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset)",
        ),
        ggml_set_rows: f("void *ggml_set_rows(void *ctx, void *a, void *b, void *c)"),
        ggml_permute: f("void *ggml_permute(void *ctx, void *a, int axis0, int axis1, int axis2, int axis3)"),
        ggml_transpose: f("void *ggml_transpose(void *ctx, void *a)"),
        ggml_soft_max: f("void *ggml_soft_max(void *ctx, void *a)"),
        ggml_argmax: f("void *ggml_argmax(void *ctx, void *a)"),
        ggml_diag_mask_inf: f("void *ggml_diag_mask_inf(void *ctx, void *a, int n_past)"),
        ggml_soft_max_ext: f("void *ggml_soft_max_ext(void *ctx, void *a, void *mask, float scale, float max_bias)"),
        ggml_rope_ext: f(
            "void *ggml_rope_ext(void *ctx, void *a, void *b, void *c, int n_dims, int mode, int n_ctx_orig," +
                " float freq_base, float freq_scale, float ext_factor, float attn_factor, float beta_fast, float beta_slow)",
        ),
        ggml_cross_entropy_loss: f("void *ggml_cross_entropy_loss(void *ctx, void *a, void *b)"),
        ggml_cross_entropy_loss_back: f("void *ggml_cross_entropy_loss_back(void *ctx, void *grad, void *logits, void *labels)"),
        ggml_rms_norm_back: f("void *ggml_rms_norm_back(void *ctx, void *grad, void *x, float eps)"),
        ggml_silu_back: f("void *ggml_silu_back(void *ctx, void *grad, void *x)"),
        ggml_soft_max_ext_back: f("void *ggml_soft_max_ext_back(void *ctx, void *grad, void *out, float scale, float max_bias)"),
        ggml_get_rows_back: f("void *ggml_get_rows_back(void *ctx, void *grad, void *rows, void *like)"),
        ggml_repeat_back: f("void *ggml_repeat_back(void *ctx, void *a, void *like)"),
        ggml_rope_ext_back: f(
            "void *ggml_rope_ext_back(void *ctx, void *a, void *b, void *c, int n_dims, int mode, int n_ctx_orig," +
                " float freq_base, float freq_scale, float ext_factor, float attn_factor, float beta_fast, float beta_slow)",
        ),
        ggml_opt_step_adamw: f("void *ggml_opt_step_adamw(void *ctx, void *a, void *grad, void *m, void *v, void *params)"),
        // params: [lr, weight decay]; w = w * (1 - lr * wd) - lr * grad
        ggml_opt_step_sgd: f("void *ggml_opt_step_sgd(void *ctx, void *a, void *grad, void *params)"),
        // graphs
        ggml_new_graph_custom: f("void *ggml_new_graph_custom(void *ctx, size_t size, bool grads)"),
        ggml_build_forward_expand: f("void ggml_build_forward_expand(void *graph, void *t)"),
        ggml_build_backward_expand: f("void ggml_build_backward_expand(void *ctx, void *graph, void **grad_accs)"),
        ggml_graph_get_grad: f("void *ggml_graph_get_grad(void *graph, void *node)"),
        ggml_graph_get_grad_acc: f("void *ggml_graph_get_grad_acc(void *graph, void *node)"),
        ggml_graph_n_nodes: f("int ggml_graph_n_nodes(void *graph)"),
        // backends
        ggml_backend_dev_name: f("const char *ggml_backend_dev_name(void *dev)"),
        ggml_backend_dev_description: f("const char *ggml_backend_dev_description(void *dev)"),
        ggml_backend_dev_type: f("int ggml_backend_dev_type(void *dev)"),
        ggml_backend_dev_init: f("void *ggml_backend_dev_init(void *dev, const char *params)"),
        ggml_backend_dev_backend_reg: f("void *ggml_backend_dev_backend_reg(void *dev)"),
        ggml_backend_reg_get_proc_address: f("void *ggml_backend_reg_get_proc_address(void *reg, const char *name)"),
        ggml_backend_name: f("const char *ggml_backend_name(void *backend)"),
        ggml_backend_free: f("void ggml_backend_free(void *backend)"),
        ggml_backend_get_default_buffer_type: f("void *ggml_backend_get_default_buffer_type(void *backend)"),
        ggml_backend_alloc_ctx_tensors: f("void *ggml_backend_alloc_ctx_tensors(void *ctx, void *backend)"),
        ggml_backend_buffer_free: f("void ggml_backend_buffer_free(void *buf)"),
        ggml_backend_buffer_get_size: f("size_t ggml_backend_buffer_get_size(void *buf)"),
        ggml_backend_tensor_set: f("void ggml_backend_tensor_set(void *t, const void *data, size_t offset, size_t size)"),
        ggml_backend_tensor_get: f("void ggml_backend_tensor_get(void *t, _Out_ void *data, size_t offset, size_t size)"),
        ggml_backend_tensor_memset: f("void ggml_backend_tensor_memset(void *t, uint8_t value, size_t offset, size_t size)"),
        ggml_backend_graph_compute: f("int ggml_backend_graph_compute(void *backend, void *graph)"),
        ggml_gallocr_new: f("void *ggml_gallocr_new(void *buft)"),
        ggml_gallocr_free: f("void ggml_gallocr_free(void *galloc)"),
        ggml_gallocr_reserve: f("bool ggml_gallocr_reserve(void *galloc, void *graph)"),
        ggml_gallocr_alloc_graph: f("bool ggml_gallocr_alloc_graph(void *galloc, void *graph)"),
        ggml_gallocr_get_buffer_size: f("size_t ggml_gallocr_get_buffer_size(void *galloc, int buffer_id)"),
        ggml_log_set: f("void ggml_log_set(ggml_log_callback *cb, void *user_data)"),
    };
}

export type GgmlApi = ReturnType<typeof declare> & ReturnType<typeof declareRegistry>;

/** The first fields of struct ggml_tensor (ggml.h), enough to read a tensor's type, shape and strides. */
let tensorHeadType: Koffi.TypeObject | undefined;

export interface Ggml {
    api: GgmlApi;
    backend: Ptr;
    backendKind: BackendKind;
    /** e.g. "CPU (AMD EPYC ...)" or the CUDA device's name. */
    deviceDescription: string;
    threads: number;
    libDir: string;
    setThreads(n: number): void;
    /** Shape (ne) of a tensor, ggml order. */
    shape(t: Tensor): number[];
    /** Strides (nb) in bytes. */
    strides(t: Tensor): number[];
    /** ggml_type id of a tensor. */
    typeOf(t: Tensor): number;
    /** Whether the tensor has memory (a graph input that no node uses is never allocated). */
    isAllocated(t: Tensor): boolean;
    /**
     * Mark or unmark a persistent tensor as trainable. ggml only has ggml_set_param (set); a store's tensors
     * outlive one training run, so the flag must also be clearable.
     */
    setParam(t: Tensor, on: boolean): void;
}

const GGML_TENSOR_FLAG_PARAM = 4;

let loaded: Ggml | undefined;

/** The folder of an installed npm package (packages whose "exports" hide package.json included). */
function packageDir(name: string): string | undefined {
    const require = createRequire(import.meta.url);
    for (const nm of require.resolve.paths(name) ?? []) {
        if (fs.existsSync(path.join(nm, name, "package.json"))) return path.join(nm, name);
    }
    return undefined;
}

/** Where node-llama-cpp is installed, and its version. */
function findNodeLlamaCpp(): { dir: string; version: string } {
    const dir = packageDir("node-llama-cpp");
    if (!dir) {
        throw new Error(`node-llama-cpp is not installed. sublab needs node-llama-cpp@${PINNED_NODE_LLAMA_CPP}: run \`npm install\` in the sublab folder.`);
    }
    const version = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version as string;
    return { dir, version };
}

/** Check the installed node-llama-cpp against the pin; the C signatures here are only valid for that build. */
export function checkNodeLlamaCppVersion(installed: string): void {
    if (installed !== PINNED_NODE_LLAMA_CPP) {
        throw new Error(
            `sublab's ggml binding was written for node-llama-cpp ${PINNED_NODE_LLAMA_CPP} (llama.cpp ${PINNED_LLAMA_CPP_RELEASE}), ` +
                `but node-llama-cpp ${installed} is installed. Its libraries may have other C signatures. ` +
                `Run \`npm install node-llama-cpp@${PINNED_NODE_LLAMA_CPP} --save-exact\`.`,
        );
    }
}

/** The prebuilt binaries folder of one of node-llama-cpp's platform packages, or undefined if not installed. */
function platformBinDir(pkg: string): string | undefined {
    const root = packageDir(`@node-llama-cpp/${pkg}`);
    if (!root) return undefined;
    try {
        const bins = path.join(root, "bins");
        for (const d of fs.readdirSync(bins)) {
            const dir = path.join(bins, d);
            if (fs.existsSync(path.join(dir, "libggml-base.so"))) return dir;
        }
    } catch {
        return undefined;
    }
    return undefined;
}

function cudaDriverPresent(): boolean {
    try {
        koffi.load("libcuda.so.1");
        return true;
    } catch {
        return false;
    }
}

function pickLibDir(want: BackendKind | "auto"): { dir: string; kind: BackendKind } {
    if (process.platform !== "linux" || process.arch !== "x64") {
        throw new Error(`sublab's training engine supports linux-x64 for now; this machine is ${process.platform}-${process.arch}.`);
    }
    const cpu = platformBinDir("linux-x64");
    const cuda = platformBinDir("linux-x64-cuda");
    if (want === "cuda" || (want === "auto" && cuda && cudaDriverPresent())) {
        if (!cuda) throw new Error("backend 'cuda' asked for, but @node-llama-cpp/linux-x64-cuda is not installed.");
        return { dir: cuda, kind: "cuda" };
    }
    if (!cpu) {
        throw new Error("@node-llama-cpp/linux-x64 (node-llama-cpp's prebuilt CPU libraries) is not installed: run `npm install`.");
    }
    return { dir: cpu, kind: "cpu" };
}

function defaultThreads(): number {
    const env = Number(process.env.SUBLAB_THREADS);
    if (Number.isInteger(env) && env > 0) return env;
    return Math.max(1, os.availableParallelism());
}

/**
 * Load ggml (once per process) and return the bound API with a ready backend.
 * Options apply on the first call; later calls may only change the thread count.
 */
export function getGgml(opts: GgmlOptions = {}): Ggml {
    if (loaded) {
        if (opts.threads && opts.threads !== loaded.threads) loaded.setThreads(opts.threads);
        return loaded;
    }
    const { version } = findNodeLlamaCpp();
    checkNodeLlamaCppVersion(version);
    const want = opts.backend ?? ((process.env.SUBLAB_BACKEND as BackendKind | undefined) || "auto");
    const picked = pickLibDir(want);
    const dir = picked.dir;
    let kind = picked.kind;

    koffi.struct("ggml_init_params", { mem_size: "size_t", mem_buffer: "void *", no_alloc: "bool" });
    koffi.proto("void ggml_log_callback(int level, const char *text, void *user_data)");
    tensorHeadType = koffi.struct("ggml_tensor_head", {
        type: "int",
        buffer: "void *",
        ne: koffi.array("int64_t", 4),
        nb: koffi.array("size_t", 4),
        op: "int",
        op_params: koffi.array("int32_t", 16),
        flags: "int32_t",
    });

    const base = koffi.load(path.join(dir, "libggml-base.so"));
    const reg = koffi.load(
        fs
            .readdirSync(dir)
            .map((f) => path.join(dir, f))
            .find((f) => /\/libggml(\.cuda)?\.v[\d.]+\.so$/.test(f))!,
    );
    const api = { ...declare(base), ...declareRegistry(reg) } as GgmlApi;

    const showLog = opts.log ?? !!process.env.SUBLAB_GGML_LOG;
    const logCb = koffi.register(
        (level: number, text: string) => {
            // levels: 1 debug, 2 info, 3 warn, 4 error, 5 cont
            if (showLog || level === 4) process.stderr.write(text);
        },
        koffi.pointer(koffi.type("ggml_log_callback")),
    );
    api.ggml_log_set(logCb, null);

    api.ggml_backend_load_all_from_path(dir);
    // "auto" with a CUDA driver but no usable GPU: the CUDA build carries the same CPU backends, use those.
    if (kind === "cuda" && want === "auto" && !findDevice(api, "cuda")) kind = "cpu";
    const device = findDevice(api, kind);
    if (!device) {
        throw new Error(
            kind === "cuda"
                ? `node-llama-cpp's CUDA build loaded from ${dir} but found no CUDA device. Set SUBLAB_BACKEND=cpu.`
                : `no CPU backend could be loaded from ${dir}: is this CPU supported by node-llama-cpp's prebuilt binaries?`,
        );
    }
    const backend = api.ggml_backend_dev_init(device, null);
    if (!backend) throw new Error(`ggml_backend_dev_init failed for ${api.ggml_backend_dev_name(device)} (${dir})`);

    const setNThreads = api.ggml_backend_reg_get_proc_address(api.ggml_backend_dev_backend_reg(findDevice(api, "cpu")!), "ggml_backend_set_n_threads");
    const setThreadsProto = koffi.proto("void ggml_backend_set_n_threads_t(void *backend, int n)");

    const g: Ggml = {
        api,
        backend,
        backendKind: kind,
        deviceDescription: `${api.ggml_backend_dev_name(device)} (${api.ggml_backend_dev_description(device)})`,
        threads: 0,
        libDir: dir,
        setThreads(n: number) {
            if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer, got ${n}`);
            if (kind === "cpu") {
                if (!setNThreads) throw new Error("this ggml CPU backend does not export ggml_backend_set_n_threads");
                koffi.call(setNThreads, setThreadsProto, backend, n);
            }
            g.threads = n;
        },
        shape: (t) => Array.from((koffi.decode(t, tensorHeadType!) as { ne: number[] }).ne, Number),
        strides: (t) => Array.from((koffi.decode(t, tensorHeadType!) as { nb: number[] }).nb, Number),
        typeOf: (t) => (koffi.decode(t, tensorHeadType!) as { type: number }).type,
        isAllocated: (t) => (koffi.decode(t, tensorHeadType!) as { buffer: unknown }).buffer !== null,
        setParam(t, on) {
            const flags = (koffi.decode(t, tensorHeadType!) as { flags: number }).flags;
            const next = on ? flags | GGML_TENSOR_FLAG_PARAM : flags & ~GGML_TENSOR_FLAG_PARAM;
            koffi.encode(t, koffi.offsetof(tensorHeadType!, "flags"), "int32_t", next);
        },
    };
    g.setThreads(opts.threads ?? defaultThreads());
    loaded = g;
    return g;
}

function declareRegistry(lib: Koffi.LibraryHandle) {
    const f = (proto: string) => lib.func(proto);
    return {
        ggml_backend_load_all_from_path: f("void ggml_backend_load_all_from_path(const char *dir)"),
        ggml_backend_load: f("void *ggml_backend_load(const char *path)"),
        ggml_backend_dev_count: f("size_t ggml_backend_dev_count()"),
        ggml_backend_dev_get: f("void *ggml_backend_dev_get(size_t i)"),
    };
}

function findDevice(api: GgmlApi, kind: BackendKind): Ptr | undefined {
    const n = Number(api.ggml_backend_dev_count());
    for (let i = 0; i < n; i++) {
        const dev = api.ggml_backend_dev_get(i);
        const type = api.ggml_backend_dev_type(dev);
        if (kind === "cpu" && type === DEVICE_TYPE.cpu) return dev;
        if (kind === "cuda" && type === DEVICE_TYPE.gpu && /cuda/i.test(api.ggml_backend_dev_name(dev))) return dev;
    }
    return undefined;
}
