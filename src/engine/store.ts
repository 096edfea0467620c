/**
 * A TensorStore owns a set of named, persistent f32 tensors in one backend buffer: model weights, LoRA
 * matrices, optimizer moments. Graphs built each step reference them; their data survives between steps.
 */
import { GGML_TYPE_F32, getGgml, type Ggml, type Ptr, type Tensor } from "./ggml.ts";

export interface TensorSpec {
    name: string;
    /** ggml order: ne[0] is the fastest-varying dimension. */
    ne: number[];
}

export class TensorStore {
    readonly g: Ggml;
    private ctx: Ptr;
    private buffer: Ptr;
    private tensors = new Map<string, { t: Tensor; ne: number[]; n: number }>();
    private freed = false;

    constructor(specs: TensorSpec[], g: Ggml = getGgml()) {
        this.g = g;
        const a = g.api;
        this.ctx = a.ggml_init({ mem_size: a.ggml_tensor_overhead() * (specs.length + 1), mem_buffer: null, no_alloc: true });
        for (const s of specs) {
            if (this.tensors.has(s.name)) throw new Error(`TensorStore: duplicate tensor name "${s.name}"`);
            if (s.ne.length < 1 || s.ne.length > 4) throw new Error(`TensorStore: tensor "${s.name}" must have 1 to 4 dims, got ${s.ne.length}`);
            const t = newTensor(g, this.ctx, GGML_TYPE_F32, s.ne);
            // ggml keeps names to 63 characters; we keep our own map so long names are fine.
            a.ggml_set_name(t, s.name.slice(0, 63));
            this.tensors.set(s.name, { t, ne: [...s.ne], n: s.ne.reduce((x, y) => x * y, 1) });
        }
        this.buffer = specs.length ? a.ggml_backend_alloc_ctx_tensors(this.ctx, g.backend) : null;
        if (specs.length && !this.buffer) throw new Error(`TensorStore: could not allocate ${specs.length} tensors on ${g.deviceDescription}`);
        for (const { t } of this.tensors.values()) a.ggml_backend_tensor_memset(t, 0, 0, a.ggml_nbytes(t));
    }

    has(name: string): boolean {
        return this.tensors.has(name);
    }

    names(): string[] {
        return [...this.tensors.keys()];
    }

    tensor(name: string): Tensor {
        return this.entry(name).t;
    }

    shape(name: string): number[] {
        return [...this.entry(name).ne];
    }

    numel(name: string): number {
        return this.entry(name).n;
    }

    set(name: string, data: Float32Array): void {
        const e = this.entry(name);
        if (data.length !== e.n) throw new Error(`TensorStore.set("${name}"): expected ${e.n} values (shape [${e.ne}]), got ${data.length}`);
        this.g.api.ggml_backend_tensor_set(e.t, data, 0, e.n * 4);
    }

    get(name: string): Float32Array {
        const e = this.entry(name);
        const out = new Float32Array(e.n);
        this.g.api.ggml_backend_tensor_get(e.t, out, 0, e.n * 4);
        return out;
    }

    /** Copies `count` floats of a tensor from element `from` to element `to` (through the host; for small copies). */
    copyWithin(name: string, to: number, from: number, count: number): void {
        const e = this.entry(name);
        if (from < 0 || to < 0 || from + count > e.n || to + count > e.n) throw new Error(`TensorStore.copyWithin("${name}"): range outside its ${e.n} values`);
        const buf = new Float32Array(count);
        this.g.api.ggml_backend_tensor_get(e.t, buf, from * 4, count * 4);
        this.g.api.ggml_backend_tensor_set(e.t, buf, to * 4, count * 4);
    }

    zero(name: string): void {
        const e = this.entry(name);
        this.g.api.ggml_backend_tensor_memset(e.t, 0, 0, e.n * 4);
    }

    /** Bytes held on the backend. */
    bytes(): number {
        return this.buffer ? Number(this.g.api.ggml_backend_buffer_get_size(this.buffer)) : 0;
    }

    free(): void {
        if (this.freed) return;
        this.freed = true;
        if (this.buffer) this.g.api.ggml_backend_buffer_free(this.buffer);
        this.g.api.ggml_free(this.ctx);
    }

    private entry(name: string) {
        if (this.freed) throw new Error("TensorStore used after free()");
        const e = this.tensors.get(name);
        if (!e) throw new Error(`no tensor named "${name}" in this store`);
        return e;
    }
}

/** ggml_new_tensor_{1,2,3,4}d by rank. */
export function newTensor(g: Ggml, ctx: Ptr, type: number, ne: number[]): Tensor {
    const a = g.api;
    switch (ne.length) {
        case 1:
            return a.ggml_new_tensor_1d(ctx, type, ne[0]);
        case 2:
            return a.ggml_new_tensor_2d(ctx, type, ne[0], ne[1]);
        case 3:
            return a.ggml_new_tensor_3d(ctx, type, ne[0], ne[1], ne[2]);
        case 4:
            return a.ggml_new_tensor_4d(ctx, type, ne[0], ne[1], ne[2], ne[3]);
        default:
            throw new Error(`tensor rank must be 1..4, got ${ne.length}`);
    }
}
