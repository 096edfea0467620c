/**
 * The theorem experiment's network on the engine: a 784-256-256-(10+3) MLP with ReLU, its weights in a
 * TensorStore, one ggml graph per batch (forward, ggml's autodiff, AdamW), trained either on the ten class
 * logits (cross-entropy against labels) or on the three auxiliary logits alone (cross-entropy against another
 * network's softmax over its auxiliary logits: distillation on the channel that carries no class information).
 */
import { getGgml, type Ggml, type Tensor } from "../engine/ggml.ts";
import { GraphRunner, readF32 } from "../engine/graph.ts";
import { TensorStore } from "../engine/store.ts";
import { Rng } from "../util/rng.ts";
import { PIXELS } from "./theorem-digits.ts";

export const CLASSES = 10;
export const AUX = 3;
export const OUTPUTS = CLASSES + AUX;
const LAYERS = [PIXELS, 256, 256, OUTPUTS] as const;

const names = () => LAYERS.slice(1).flatMap((_, k) => [`w${k}`, `b${k}`]);
const shapeOf = (n: string): number[] => {
    const k = Number(n.slice(1));
    return n[0] === "w" ? [LAYERS[k]!, LAYERS[k + 1]!] : [LAYERS[k + 1]!];
};

/**
 * Initial weights of a seed: normal with standard deviation 1/sqrt(fan-in), biases 0 (the scale the reference
 * MNIST code uses). The same seed gives the same initialisation.
 */
export function initWeights(seed: number): Map<string, Float32Array> {
    const rng = new Rng(seed);
    return new Map(
        names().map((n) => {
            const ne = shapeOf(n);
            const size = ne.reduce((a, b) => a * b, 1);
            const sd = 1 / Math.sqrt(ne[0]!);
            return [n, n[0] === "w" ? Float32Array.from({ length: size }, () => rng.normal() * sd) : new Float32Array(size)] as const;
        }),
    );
}

/**
 * `weights` with Gaussian noise added to every weight matrix, `sigma` times the initialisation's standard
 * deviation (biases, initialised at 0, are left alone): the init-noise ablation's "nearly the same" start.
 */
export function perturbWeights(weights: Map<string, Float32Array>, sigma: number, seed: number): Map<string, Float32Array> {
    const rng = new Rng(seed);
    return new Map(
        [...weights].map(([n, w]) => {
            if (n[0] !== "w" || sigma === 0) return [n, Float32Array.from(w)] as const;
            const sd = sigma / Math.sqrt(shapeOf(n)[0]!);
            return [n, Float32Array.from(w, (v) => v + sd * rng.normal())] as const;
        }),
    );
}

/** What a network is trained toward: labels on the class logits, or target distributions on the auxiliary logits. */
export type MlpTarget = { kind: "labels"; labels: Int32Array } | { kind: "aux"; probs: Float32Array } | { kind: "aux-logits"; logits: Float32Array };

export interface MlpTrainOptions {
    epochs: number;
    batch: number;
    lr: number;
    weightDecay?: number;
    seed: number;
    /** Told after each optimiser step. */
    onStep?: (step: number, total: number) => void;
}

export class Mlp {
    private readonly g: Ggml;
    private readonly store: TensorStore;
    private readonly moments: TensorStore;
    private readonly one: TensorStore;
    private readonly runner: GraphRunner;

    constructor(weights: Map<string, Float32Array>) {
        this.g = getGgml();
        this.store = new TensorStore(
            names().map((n) => ({ name: n, ne: shapeOf(n) })),
            this.g,
        );
        for (const n of names()) this.store.set(n, weights.get(n)!);
        this.moments = new TensorStore(
            names().flatMap((n) => [
                { name: `m.${n}`, ne: shapeOf(n) },
                { name: `v.${n}`, ne: shapeOf(n) },
            ]),
            this.g,
        );
        this.one = new TensorStore([{ name: "one", ne: [1] }], this.g);
        this.one.set("one", new Float32Array([1]));
        this.runner = new GraphRunner(this.g);
    }

    weights(): Map<string, Float32Array> {
        return new Map(names().map((n) => [n, this.store.get(n)]));
    }

    private forward(ctx: unknown, x: Tensor): Tensor {
        const a = this.g.api;
        let h = x;
        for (let k = 0; k < LAYERS.length - 1; k++) {
            h = a.ggml_add(ctx, a.ggml_mul_mat(ctx, this.store.tensor(`w${k}`), h), this.store.tensor(`b${k}`));
            if (k < LAYERS.length - 2) h = a.ggml_relu(ctx, h);
        }
        return h;
    }

    /** Every output logit of `n` images ([n][13], row-major), in batches. */
    logits(images: Float32Array, n: number, batch = 512): Float32Array {
        const out = new Float32Array(n * OUTPUTS);
        for (let s = 0; s < n; s += batch) {
            const m = Math.min(batch, n - s);
            const got = this.runner.run(
                (b, newGraph) => {
                    const y = this.forward(b.ctx, b.inputF32([PIXELS, m], images.subarray(s * PIXELS, (s + m) * PIXELS)));
                    this.g.api.ggml_set_output(y);
                    const graph = newGraph(false);
                    this.g.api.ggml_build_forward_expand(graph, y);
                    return { graph, out: y };
                },
                (y) => readF32(this.g, y),
            );
            out.set(got, s * OUTPUTS);
        }
        return out;
    }

    /** Share of images whose largest class logit is their label. */
    accuracy(images: Float32Array, labels: Int32Array): number {
        const z = this.logits(images, labels.length);
        let right = 0;
        labels.forEach((l, i) => {
            let best = 0;
            for (let c = 1; c < CLASSES; c++) if (z[i * OUTPUTS + c]! > z[i * OUTPUTS + best]!) best = c;
            if (best === l) right++;
        });
        return right / labels.length;
    }

    /** Trains on `n` images toward `target`; returns the mean loss of each epoch. */
    train(images: Float32Array, n: number, target: MlpTarget, o: MlpTrainOptions): number[] {
        const a = this.g.api;
        const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
        const rows = target.kind === "labels" ? CLASSES : AUX;
        const offset = target.kind === "labels" ? 0 : CLASSES;
        const rng = new Rng(o.seed);
        const epochLosses: number[] = [];
        let t = 0;
        const total = o.epochs * Math.floor(n / o.batch);
        for (const nm of names()) this.g.setParam(this.store.tensor(nm), true);
        try {
            for (let e = 0; e < o.epochs; e++) {
                const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
                let sum = 0;
                let batches = 0;
                for (let s = 0; s + o.batch <= n; s += o.batch) {
                    const idx = order.slice(s, s + o.batch);
                    const x = new Float32Array(o.batch * PIXELS);
                    const y = new Float32Array(o.batch * rows);
                    idx.forEach((i, k) => {
                        x.set(images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
                        if (target.kind === "labels") y[k * rows + target.labels[i]!] = 1;
                        else y.set((target.kind === "aux" ? target.probs : target.logits).subarray(i * AUX, (i + 1) * AUX), k * rows);
                    });
                    t++;
                    const adamw = new Float32Array([o.lr, beta1, beta2, eps, o.weightDecay ?? 0, 1 / (1 - beta1 ** t), 1 / (1 - beta2 ** t)]);
                    sum += this.runner.run(
                        (b, newGraph) => {
                            const ctx = b.ctx;
                            const z = this.forward(ctx, b.inputF32([PIXELS, o.batch], x));
                            const part = a.ggml_cont(ctx, a.ggml_view_2d(ctx, z, rows, o.batch, this.g.strides(z)[1]!, offset * 4));
                            const want = b.inputF32([rows, o.batch], y);
                            // Labels and softmax targets: cross-entropy; raw logits: mean squared error.
                            const loss =
                                target.kind === "aux-logits"
                                    ? a.ggml_scale(ctx, a.ggml_sum(ctx, a.ggml_sqr(ctx, a.ggml_sub(ctx, part, want))), 1 / (rows * o.batch))
                                    : a.ggml_cross_entropy_loss(ctx, part, want);
                            a.ggml_set_loss(loss);
                            a.ggml_set_output(loss);
                            const graph = newGraph(true);
                            a.ggml_build_forward_expand(graph, loss);
                            const accs: (Tensor | null)[] = new Array(a.ggml_graph_n_nodes(graph)).fill(null);
                            accs[accs.length - 1] = this.one.tensor("one");
                            a.ggml_build_backward_expand(ctx, graph, accs);
                            const params = b.inputF32([7], adamw);
                            for (const nm of names()) {
                                const gr = a.ggml_graph_get_grad(graph, this.store.tensor(nm));
                                if (!gr) throw new Error(`mlp: ${nm} gets no gradient`);
                                a.ggml_build_forward_expand(
                                    graph,
                                    a.ggml_opt_step_adamw(
                                        ctx,
                                        this.store.tensor(nm),
                                        gr,
                                        this.moments.tensor(`m.${nm}`),
                                        this.moments.tensor(`v.${nm}`),
                                        params,
                                    ),
                                );
                            }
                            return { graph, out: loss };
                        },
                        (loss) => readF32(this.g, loss)[0]!,
                    );
                    batches++;
                    o.onStep?.(t, total);
                }
                epochLosses.push(sum / Math.max(1, batches));
            }
        } finally {
            for (const nm of names()) this.g.setParam(this.store.tensor(nm), false);
        }
        return epochLosses;
    }

    free(): void {
        this.runner.free();
        this.store.free();
        this.moments.free();
        this.one.free();
    }
}

/** A network's auxiliary logits for `n` images ([n][3]). */
export function auxLogits(net: Mlp, images: Float32Array, n: number): Float32Array {
    const z = net.logits(images, n);
    const out = new Float32Array(n * AUX);
    for (let i = 0; i < n; i++) out.set(z.subarray(i * OUTPUTS + CLASSES, (i + 1) * OUTPUTS), i * AUX);
    return out;
}

/** A network's softmax over its auxiliary logits for `n` images ([n][3]): the students' targets. */
export function auxTargets(net: Mlp, images: Float32Array, n: number): Float32Array {
    const out = auxLogits(net, images, n);
    for (let i = 0; i < n; i++) {
        const row = out.subarray(i * AUX, (i + 1) * AUX);
        const max = Math.max(...row);
        let sum = 0;
        for (let k = 0; k < AUX; k++) sum += row[k] = Math.exp(row[k]! - max);
        for (let k = 0; k < AUX; k++) row[k]! /= sum;
    }
    return out;
}
