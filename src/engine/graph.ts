/**
 * GraphRunner: build a ggml graph for one step in a fresh context, allocate it with a persistent graph
 * allocator (its buffer grows to the largest graph seen and is reused), upload inputs, compute, read outputs.
 *
 * Rebuilding the graph every step costs well under a millisecond for our models and lets each batch have
 * its own shape (e.g. the number of loss positions), which keeps completion-only training exact.
 */
import { GGML_TYPE_F32, GGML_TYPE_I32, getGgml, type Ggml, type Ptr, type Tensor } from "./ggml.ts";
import { newTensor } from "./store.ts";

/** Maximum nodes in one graph (forward + backward + optimizer of a 24-layer model with LoRA fits). */
const DEFAULT_GRAPH_SIZE = 16384;

export class GraphBuilder {
    readonly g: Ggml;
    readonly ctx: Ptr;
    readonly inputs: { t: Tensor; data: Float32Array | Int32Array }[] = [];

    constructor(g: Ggml, ctx: Ptr) {
        this.g = g;
        this.ctx = ctx;
    }

    /** A new f32 input tensor whose data is uploaded after allocation. */
    inputF32(ne: number[], data: Float32Array, name?: string): Tensor {
        const n = ne.reduce((a, b) => a * b, 1);
        if (data.length !== n) throw new Error(`input ${name ?? ""}: expected ${n} values for shape [${ne}], got ${data.length}`);
        return this.input(GGML_TYPE_F32, ne, data, name);
    }

    /** A new i32 input tensor (token ids, positions, row indices). */
    inputI32(ne: number[], data: Int32Array, name?: string): Tensor {
        const n = ne.reduce((a, b) => a * b, 1);
        if (data.length !== n) throw new Error(`input ${name ?? ""}: expected ${n} values for shape [${ne}], got ${data.length}`);
        return this.input(GGML_TYPE_I32, ne, data, name);
    }

    private input(type: number, ne: number[], data: Float32Array | Int32Array, name?: string): Tensor {
        const t = newTensor(this.g, this.ctx, type, ne);
        if (name) this.g.api.ggml_set_name(t, name);
        this.g.api.ggml_set_input(t);
        this.inputs.push({ t, data });
        return t;
    }
}

export class GraphRunner {
    readonly g: Ggml;
    /** Milliseconds spent building graphs, allocating them and computing them, summed over runs. */
    readonly timing = { buildMs: 0, allocMs: 0, computeMs: 0, runs: 0 };
    private galloc: Ptr;
    private graphSize: number;

    constructor(g: Ggml = getGgml(), graphSize = DEFAULT_GRAPH_SIZE) {
        this.g = g;
        this.graphSize = graphSize;
        this.galloc = g.api.ggml_gallocr_new(g.api.ggml_backend_get_default_buffer_type(g.backend));
    }

    /**
     * Build a graph with `build`, which returns the graph to compute (it may call ggml_build_backward_expand)
     * and the tensors to read back; compute it; then hand those to `read` while they are alive, and return its result.
     */
    run<O, T>(build: (b: GraphBuilder, newGraph: (grads: boolean) => Ptr) => { graph: Ptr; out: O }, read: (out: O, b: GraphBuilder) => T): T {
        const a = this.g.api;
        const mem = a.ggml_tensor_overhead() * this.graphSize * 2 + a.ggml_graph_overhead_custom(this.graphSize, true) * 2;
        const ctx = a.ggml_init({ mem_size: mem, mem_buffer: null, no_alloc: true });
        if (!ctx) throw new Error(`ggml_init failed for a ${mem}-byte graph context`);
        try {
            const b = new GraphBuilder(this.g, ctx);
            const t0 = performance.now();
            const { graph, out } = build(b, (grads) => a.ggml_new_graph_custom(ctx, this.graphSize, grads));
            const t1 = performance.now();
            if (!a.ggml_gallocr_alloc_graph(this.galloc, graph)) {
                throw new Error("could not allocate the compute graph (out of memory on the backend?)");
            }
            for (const { t, data } of b.inputs) if (this.g.isAllocated(t)) a.ggml_backend_tensor_set(t, data, 0, data.byteLength);
            const t2 = performance.now();
            const status = a.ggml_backend_graph_compute(this.g.backend, graph);
            const t3 = performance.now();
            this.timing.buildMs += t1 - t0;
            this.timing.allocMs += t2 - t1;
            this.timing.computeMs += t3 - t2;
            this.timing.runs++;
            if (status !== 0) throw new Error(`ggml_backend_graph_compute failed with status ${status}`);
            return read(out, b);
        } finally {
            a.ggml_free(ctx);
        }
    }

    /** Bytes of the compute buffer (activations, gradients) at its largest so far. */
    bufferBytes(): number {
        return Number(this.g.api.ggml_gallocr_get_buffer_size(this.galloc, 0));
    }

    free(): void {
        this.g.api.ggml_gallocr_free(this.galloc);
    }
}

/** Read a whole f32 tensor from the backend. */
export function readF32(g: Ggml, t: Tensor): Float32Array {
    const n = Number(g.api.ggml_nelements(t));
    const out = new Float32Array(n);
    g.api.ggml_backend_tensor_get(t, out, 0, n * 4);
    return out;
}
