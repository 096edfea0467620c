/**
 * What the training loop (trainer.ts) takes and gives: examples, options, each step's information and the result.
 */
import { GraphRunner } from "../engine/graph.ts";
import type { SparseSoftTargets } from "../engine/logits.ts";
import { type ScheduleKind } from "./schedule.ts";

/** How gradients are built: "manual" (backprop.ts, fast; the default) or "autodiff" (ggml's, the reference). */
export type BackwardKind = "manual" | "autodiff";

export interface TrainExample {
    tokens: Int32Array;
    /** targetMask[j] = 1 when tokens[j] is predicted (from tokens[0..j-1]) and counts in the loss. */
    targetMask: Uint8Array;
    /**
     * Soft targets for logit distillation: one probability distribution over the vocabulary per target
     * position, in the order of the mask's ones (nTargets x vocab). Without it the targets are the tokens.
     */
    soft?: Float32Array;
    /** Soft targets kept sparse (the top tokens of each position; see positionTopK), instead of `soft`. */
    softSparse?: SparseSoftTargets;
}

export interface TrainOptions {
    /** "lora" trains the adapter attached to the model (model.addLora first); "full" trains the weights. */
    mode: "full" | "lora";
    /** In full mode, which weights are trained. Defaults to all (embeddings included). */
    trainable?: (name: string) => boolean;
    lr: number;
    /** Defaults to 5 (the paper's open-model recipe). */
    warmupSteps?: number;
    /** Defaults to "linear". */
    schedule?: ScheduleKind;
    /** AdamW's: default 0.9, 0.999 and 1e-8. */
    beta1?: number;
    beta2?: number;
    eps?: number;
    /** Decoupled weight decay. Defaults to 0. */
    weightDecay?: number;
    optimizer?: "adamw" | "sgd"; // AdamW (the default) or plain SGD: w -= lr * grad after the same clipping
    /** Global gradient-norm clip; 0 turns it off. Defaults to 1.0. */
    gradClip?: number;
    /** Sequences per optimizer step. Defaults to 8. */
    batchSize?: number;
    /**
     * Sequences per forward/backward graph; a step's gradients are accumulated over ceil(batchSize /
     * microBatchSize) graphs, weighted by their target counts, so the step is the same as one big batch but
     * needs the activation memory of one micro-batch. Defaults to batchSize.
     */
    microBatchSize?: number;
    /** Defaults to 1. */
    epochs?: number;
    /** Stop after this many optimizer steps in total; the learning-rate schedule still spans all epochs. */
    maxSteps?: number;
    /** Seeds the data order. Defaults to 42. */
    seed?: number;
    longRows?: number; // rows of more tokens than this are batched apart from the rest (students/order.ts); absent: off
    /** A checkpoint file: resumed from when it exists (and matches this run), written every checkpointEvery steps. */
    checkpointPath?: string;
    /** Defaults to 50. */
    checkpointEvery?: number;
    /** "manual" (fast, the default) or "autodiff" (ggml's own backward, the reference implementation). */
    backward?: BackwardKind;
    /** Stop cleanly (checkpoint written) once aborted. */
    signal?: AbortSignal;
    onStep?: (s: StepInfo) => void;
    /**
     * Each epoch's examples, asked for before its first step (on-policy distillation: the student, as it is then,
     * writes them). As many as `examples` (which fix the steps per epoch and the checkpoint's fingerprint), and
     * the same for an epoch when asked again, so that a resumed run trains on what the stopped one did.
     */
    epochExamples?: (epoch: number) => Promise<TrainExample[]>;
}

export interface StepInfo {
    step: number;
    totalSteps: number;
    epoch: number;
    loss: number;
    gradNorm: number;
    lr: number;
    /** Tokens in this step's sequences (padding excluded). */
    tokens: number;
    stepMs: number;
}

export interface TrainResult {
    /** Every step's loss, a resumed run's earlier steps (from its checkpoint) included. */
    losses: number[];
    steps: number;
    totalSteps: number;
    /** The step training resumed from (0 for a fresh run). */
    resumedFrom: number;
    interrupted: boolean;
    /** Every epoch ran (false when stopped early by maxSteps or a signal). */
    complete: boolean;
    tokensPerSecond: number;
    computeBufferBytes: number;
    /** Where the time went: graph building, allocation and input upload, compute (ms, summed). */
    timing: GraphRunner["timing"];
}
