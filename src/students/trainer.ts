/**
 * The training loop: our own ggml graph (forward, backward, clipping, AdamW) built per step, so that it has
 * none of llama_opt_epoch's limits (ENGINE.md): completion-only loss masks, soft-label targets, trainable
 * embeddings, LoRA, gradient clipping, any sequence length, and checkpoints that hold the optimizer state.
 */
import fs from "node:fs";
import type { Ptr, Tensor } from "../engine/ggml.ts";
import { epochOrder } from "./order.ts";
import { GraphRunner, readF32, type GraphBuilder } from "../engine/graph.ts";
import { TensorStore } from "../engine/store.ts";
import { buildForwardBackward } from "../engine/backprop.ts";
import type { SparseSoftTargets } from "../engine/logits.ts";
import type { Model } from "../engine/model.ts";
import { learningRate, type ScheduleKind } from "./schedule.ts";
import { loadCheckpoint, runFingerprint, saveCheckpoint } from "./checkpoint.ts";
import type { BackwardKind, TrainExample, TrainOptions, TrainResult } from "./trainer-types.ts";

/** Which tensors a run trains, in a fixed order. */
function trainableTensors(model: Model, opts: TrainOptions): { store: TensorStore; names: string[] } {
    if (opts.mode === "lora") {
        if (!model.lora) throw new Error("mode 'lora' needs a LoRA adapter: call model.addLora(spec, seed) first");
        return { store: model.lora.store, names: model.lora.store.names() };
    }
    const names = model.weights.names().filter(opts.trainable ?? (() => true));
    if (!names.length) throw new Error("no trainable weights selected");
    return { store: model.weights, names };
}

/** Flat positions and targets of a batch; rows are the positions that predict each target. */
function makeBatch(examples: TrainExample[], vocab: number) {
    // The last token of a sequence is only ever a target, never an input: T+1 tokens make T positions.
    const T = Math.max(...examples.map((e) => e.tokens.length - 1));
    if (T < 1) throw new Error("every example needs at least 2 tokens");
    const B = examples.length;
    const tokens = new Int32Array(B * T);
    const rows: number[] = [];
    const targets: number[] = [];
    const softRows: { ex: TrainExample; i: number }[] = [];
    let realTokens = 0;
    examples.forEach((e, b) => {
        if (e.targetMask.length !== e.tokens.length)
            throw new Error(`example ${b}: targetMask length ${e.targetMask.length} != tokens length ${e.tokens.length}`);
        tokens.set(e.tokens.subarray(0, e.tokens.length - 1), b * T);
        realTokens += e.tokens.length;
        let k = 0;
        for (let j = 1; j < e.tokens.length; j++) {
            if (!e.targetMask[j]) continue;
            rows.push(b * T + j - 1);
            targets.push(e.tokens[j]);
            softRows.push({ ex: e, i: k++ });
        }
        if (e.soft && e.soft.length !== k * vocab) throw new Error(`example ${b}: soft targets hold ${e.soft.length} values, expected ${k} x ${vocab}`);
        if (e.softSparse && e.softSparse.offsets.length !== k + 1)
            throw new Error(`example ${b}: sparse soft targets for ${e.softSparse.offsets.length - 1} positions, expected ${k}`);
    });
    if (!rows.length) throw new Error("a batch has no target tokens (every targetMask is 0)");
    const labels = new Float32Array(rows.length * vocab);
    rows.forEach((_, r) => {
        const { ex, i } = softRows[r];
        if (ex.soft) labels.set(ex.soft.subarray(i * vocab, (i + 1) * vocab), r * vocab);
        else if (ex.softSparse) {
            const { offsets, ids, probs } = ex.softSparse;
            for (let j = offsets[i]!; j < offsets[i + 1]!; j++) labels[r * vocab + ids[j]!] = probs[j]!;
        } else labels[r * vocab + targets[r]] = 1;
    });
    return { tokens, T, B, rows: Int32Array.from(rows), labels, realTokens };
}

type Batch = ReturnType<typeof makeBatch>;

/** Forward and mean cross-entropy over the batch's target rows (the forward graph of llama.ts). */
function buildLoss(b: GraphBuilder, model: Model, batch: Batch): Tensor {
    const logits = model.graph().forward(b, { tokens: batch.tokens, nSeq: batch.B, seqLen: batch.T, rows: batch.rows });
    const labels = b.inputF32([model.config.vocabSize, batch.rows.length], batch.labels, "labels");
    return b.g.api.ggml_cross_entropy_loss(b.ctx, logits, labels);
}

/** Forward, cross-entropy on the batch's target rows, backward: the graph, the loss and each named tensor's gradient. */
function buildLossAndGrads(
    b: GraphBuilder,
    newGraph: (grads: boolean) => Ptr,
    model: Model,
    batch: Batch,
    lossGradAcc: Tensor,
    store: TensorStore,
    names: string[],
    backward: BackwardKind,
) {
    const a = b.g.api;
    if (backward === "manual") {
        const input = { tokens: batch.tokens, nSeq: batch.B, seqLen: batch.T, rows: batch.rows, labels: batch.labels };
        const { loss, grads } = buildForwardBackward(b, model.graph(), input, new Set(names), lossGradAcc);
        a.ggml_set_output(loss);
        const graph = newGraph(false);
        a.ggml_build_forward_expand(graph, loss);
        const list = names.map((n) => grads.get(n)!);
        for (const gr of list) a.ggml_build_forward_expand(graph, gr);
        return { graph, lossT: loss, grads: list };
    }
    // ggml's autodiff has no backward for tanh, which gemma3's GELU uses: only the hand-written backward trains it.
    if (model.config.arch === "gemma3") throw new Error(`backward "autodiff" does not support gemma3 (ggml has no tanh backward); use "manual"`);
    const lossT = buildLoss(b, model, batch);
    a.ggml_set_loss(lossT);
    a.ggml_set_output(lossT);
    const graph = newGraph(true);
    a.ggml_build_forward_expand(graph, lossT);
    const accs: (Tensor | null)[] = new Array(a.ggml_graph_n_nodes(graph)).fill(null);
    accs[accs.length - 1] = lossGradAcc; // the loss is the last node; its gradient accumulator holds 1
    a.ggml_build_backward_expand(b.ctx, graph, accs);
    const grads = names.map((n) => {
        const gr = a.ggml_graph_get_grad(graph, store.tensor(n));
        if (!gr) throw new Error(`tensor ${n} gets no gradient: it does not affect the loss`);
        return gr;
    });
    return { graph, lossT, grads };
}

/**
 * The mean loss over a batch and the gradient of every trainable tensor (for tests and analysis; no update).
 */
export function lossAndGradients(
    model: Model,
    examples: TrainExample[],
    mode: TrainOptions["mode"],
    trainable?: (name: string) => boolean,
    backward: BackwardKind = "manual",
) {
    const g = model.weights.g;
    const { store, names } = trainableTensors(model, { mode, trainable, lr: 1 });
    const batch = makeBatch(examples, model.config.vocabSize);
    for (const n of names) g.setParam(store.tensor(n), true);
    const lossGrad = new TensorStore([{ name: "loss_grad", ne: [1] }], g);
    lossGrad.set("loss_grad", new Float32Array([1]));
    const runner = new GraphRunner(g);
    try {
        return runner.run(
            (b, newGraph) => {
                const r = buildLossAndGrads(b, newGraph, model, batch, lossGrad.tensor("loss_grad"), store, names, backward);
                r.grads.forEach((gr) => b.g.api.ggml_set_output(gr));
                return { graph: r.graph, out: r };
            },
            (r) => ({ loss: readF32(g, r.lossT)[0], grads: new Map(names.map((n, i) => [n, readF32(g, r.grads[i])])) }),
        );
    } finally {
        for (const n of names) g.setParam(store.tensor(n), false);
        runner.free();
        lossGrad.free();
    }
}

/** The mean loss over a batch (forward only). */
export function batchLoss(model: Model, examples: TrainExample[]): number {
    const g = model.weights.g;
    const batch = makeBatch(examples, model.config.vocabSize);
    const runner = new GraphRunner(g);
    try {
        return runner.run(
            (b, newGraph) => {
                const lossT = buildLoss(b, model, batch);
                const graph = newGraph(false);
                g.api.ggml_build_forward_expand(graph, lossT);
                return { graph, out: lossT };
            },
            (lossT) => readF32(g, lossT)[0],
        );
    } finally {
        runner.free();
    }
}

/**
 * Train `model` on `examples`. Deterministic for a seed on CPU (same thread count): same loss curve, same weights.
 * With checkpointPath, an interrupted run resumes where it stopped and ends with the same weights.
 */
export async function train(model: Model, examples: TrainExample[], opts: TrainOptions): Promise<TrainResult> {
    if (!examples.length) throw new Error("train: no examples");
    if (!(opts.lr > 0)) throw new Error(`train: lr must be positive, got ${opts.lr}`);
    const g = model.weights.g;
    const a = g.api;
    const V = model.config.vocabSize;
    const batchSize = opts.batchSize ?? 8;
    const microBatchSize = Math.min(batchSize, opts.microBatchSize ?? batchSize);
    if (!(Number.isInteger(microBatchSize) && microBatchSize > 0))
        throw new Error(`train: microBatchSize must be a positive integer, got ${opts.microBatchSize}`);
    const epochs = opts.epochs ?? 1;
    const seed = opts.seed ?? 42;
    const clip = opts.gradClip ?? 1.0;
    const [beta1, beta2, eps, wd] = [opts.beta1 ?? 0.9, opts.beta2 ?? 0.999, opts.eps ?? 1e-8, opts.weightDecay ?? 0];
    const stepsPerEpoch = Math.ceil(examples.length / batchSize);
    // The schedule spans all epochs; maxSteps only stops early, so a run stopped by it resumes on the same curve.
    const scheduleSteps = epochs * stepsPerEpoch;
    const totalSteps = Math.min(scheduleSteps, opts.maxSteps ?? Infinity);
    const schedule = { lr: opts.lr, warmupSteps: opts.warmupSteps ?? 5, totalSteps: scheduleSteps, kind: opts.schedule };

    const { store, names } = trainableTensors(model, opts);
    // Trainable flags live on the persistent tensors: set exactly this run's set.
    for (const s of [model.weights, model.lora?.store]) for (const n of s?.names() ?? []) g.setParam(s!.tensor(n), false);
    for (const n of names) g.setParam(store.tensor(n), true);

    const moments = new TensorStore(
        names.flatMap((n) => [
            { name: `adam_m.${n}`, ne: store.shape(n) },
            { name: `adam_v.${n}`, ne: store.shape(n) },
        ]),
        g,
    );
    const lossGrad = new TensorStore([{ name: "loss_grad", ne: [1] }], g);
    lossGrad.set("loss_grad", new Float32Array([1]));
    const accum =
        microBatchSize < batchSize
            ? new TensorStore(
                  names.map((n) => ({ name: `grad.${n}`, ne: store.shape(n) })),
                  g,
              )
            : undefined;
    const runner = new GraphRunner(g);
    const fingerprint = runFingerprint(model, names, examples, opts);

    let step = 0;
    // The losses of the whole run: a resumed run starts with those its checkpoint kept.
    let losses: number[] = [];
    if (opts.checkpointPath && fs.existsSync(opts.checkpointPath)) {
        ({ step, losses } = loadCheckpoint(opts.checkpointPath, fingerprint, store, names, moments));
    }
    const resumedFrom = step;
    let order: number[] = [];
    let orderEpoch = -1;
    let current = examples; // this epoch's (opts.epochExamples)
    let interrupted = false;
    let tokensDone = 0;
    let computeMs = 0;
    const saveCk = () => opts.checkpointPath && saveCheckpoint(opts.checkpointPath, fingerprint, step, losses, store, names, moments);

    try {
        while (step < totalSteps) {
            if (opts.signal?.aborted) {
                interrupted = true;
                break;
            }
            const epoch = Math.floor(step / stepsPerEpoch);
            // Each epoch's order comes from its own seeded stream, so a resumed run sees the same batches.
            if (epoch !== orderEpoch) {
                if (opts.epochExamples) {
                    current = await opts.epochExamples(epoch);
                    // Stopped while they were being made: no step on them.
                    if (opts.signal?.aborted) {
                        interrupted = true;
                        break;
                    }
                    if (current.length !== examples.length)
                        throw new Error(`train: epoch ${epoch + 1} has ${current.length} examples, the run ${examples.length}`);
                }
                [order, orderEpoch] = [epochOrder(current, seed, epoch, batchSize, opts.longRows), epoch];
            }
            const k = step % stepsPerEpoch;
            const stepExamples = order.slice(k * batchSize, (k + 1) * batchSize).map((i) => current[i]);
            const micro: Batch[] = [];
            for (let i = 0; i < stepExamples.length; i += microBatchSize) micro.push(makeBatch(stepExamples.slice(i, i + microBatchSize), V));
            const nTargets = micro.reduce((n, mb) => n + mb.rows.length, 0);
            const lr = learningRate(schedule, step);
            const t = step + 1;
            const adamw = new Float32Array([lr, beta1, beta2, eps, wd, 1 / (1 - beta1 ** t), 1 / (1 - beta2 ** t)]);

            const t0 = performance.now();
            let loss = 0;
            let gradNorm = 0;
            for (let mi = 0; mi < micro.length; mi++) {
                const mb = micro[mi];
                const last = mi === micro.length - 1;
                // The step's loss is the mean over all its target tokens: each micro-batch counts by its share.
                const weight = mb.rows.length / nTargets;
                lossGrad.set("loss_grad", new Float32Array([weight]));
                const r = runner.run(
                    (b, newGraph) => {
                        const ctx = b.ctx;
                        const built = buildLossAndGrads(b, newGraph, model, mb, lossGrad.tensor("loss_grad"), store, names, opts.backward ?? "manual");
                        const graph = built.graph;
                        // Earlier micro-batches' gradients wait in the accumulators.
                        const grads = accum && mi > 0 ? built.grads.map((gr, i) => a.ggml_add(ctx, gr, accum.tensor(`grad.${names[i]}`))) : built.grads;
                        if (!last) {
                            grads.forEach((gr, i) => a.ggml_build_forward_expand(graph, a.ggml_cpy(ctx, gr, accum!.tensor(`grad.${names[i]}`))));
                            return { graph, out: { lossT: built.lossT, norm: null } };
                        }
                        let sumsq: Tensor = a.ggml_sum(ctx, a.ggml_sqr(ctx, grads[0]));
                        for (const gr of grads.slice(1)) sumsq = a.ggml_add(ctx, sumsq, a.ggml_sum(ctx, a.ggml_sqr(ctx, gr)));
                        const norm = a.ggml_sqrt(ctx, sumsq);
                        a.ggml_set_output(norm);
                        a.ggml_build_forward_expand(graph, norm);
                        // min(1, clip / norm), computed in the graph so the step never waits on the host.
                        const scale = clip > 0 ? a.ggml_clamp(ctx, a.ggml_div(ctx, b.inputF32([1], new Float32Array([clip])), norm), 0, 1) : null;
                        const sgd = opts.optimizer === "sgd"; // plain SGD's params: [lr, weight decay]
                        const params = sgd ? b.inputF32([2], new Float32Array([lr, wd]), "sgd_params") : b.inputF32([7], adamw, "adamw_params");
                        names.forEach((n, i) => {
                            const gr = scale ? a.ggml_mul(ctx, grads[i], scale) : grads[i];
                            const upd = sgd
                                ? a.ggml_opt_step_sgd(ctx, store.tensor(n), gr, params)
                                : a.ggml_opt_step_adamw(ctx, store.tensor(n), gr, moments.tensor(`adam_m.${n}`), moments.tensor(`adam_v.${n}`), params);
                            a.ggml_build_forward_expand(graph, upd);
                        });
                        return { graph, out: { lossT: built.lossT, norm } };
                    },
                    (out) => ({ loss: readF32(g, out.lossT)[0], gradNorm: out.norm ? readF32(g, out.norm)[0] : 0 }),
                );
                loss += weight * r.loss;
                gradNorm = r.gradNorm;
            }
            const realTokens = micro.reduce((n, mb) => n + mb.realTokens, 0);
            const stepMs = performance.now() - t0;
            computeMs += stepMs;
            tokensDone += realTokens;
            if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step + 1}: lower the learning rate?`);
            losses.push(loss);
            step++;
            opts.onStep?.({ step, totalSteps, epoch, loss, gradNorm, lr, tokens: realTokens, stepMs });
            if (opts.checkpointPath && step % (opts.checkpointEvery ?? 50) === 0 && step < totalSteps) saveCk();
            // Let timers, signals and progress output run between steps.
            await new Promise((r) => setImmediate(r));
        }
        if (step > resumedFrom) saveCk();
        return {
            losses,
            steps: step,
            totalSteps,
            resumedFrom,
            interrupted,
            complete: step >= scheduleSteps,
            tokensPerSecond: computeMs > 0 ? tokensDone / (computeMs / 1000) : 0,
            computeBufferBytes: runner.bufferBytes(),
            timing: { ...runner.timing },
        };
    } finally {
        for (const n of names) g.setParam(store.tensor(n), false);
        runner.free();
        moments.free();
        lossGrad.free();
        accum?.free();
    }
}
