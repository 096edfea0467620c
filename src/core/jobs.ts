/**
 * The jobs of a run as plain data: what trains a student, evaluates a model or generates a dataset's rows.
 * They cross process boundaries (studies/pool.ts sends them to workers), so they hold no functions; the
 * stages that run them (students/, evaluate/, generate/) and the context that schedules them (core/context.ts)
 * share these shapes.
 */
import type { LoraTarget } from "../engine/model-config.ts";
import type { ChatPrompt } from "../engine/llama-cpp.ts";
import type { RowsRequest } from "./rows.ts";

/** How a student is trained (experiment files' `student` section has these fields). */
export interface TrainRecipe {
    method: "lora" | "full";
    rank: number;
    alpha: number;
    targets: LoraTarget[];
    epochs: number;
    lr: number;
    batchSize: number;
    warmupSteps: number;
    schedule: ScheduleKind;
    /** Soft labels: the top tokens holding this much probability (defaults to 1, every token). */
    softMass?: number;
    /** Soft labels: at most this many tokens per position (null or absent: no limit). */
    softTopK?: number | null;
    /** The optimizer: AdamW when absent, or plain SGD. */
    optimizer?: "adamw" | "sgd";
    /** A system prompt every training row carries (absent: none, as the data was written without one). */
    system?: string;
}

/** A training row: a prompt and completion, with a defense's loss mask (indices among its target tokens) when it has one. */
export interface StudentRow {
    prompt: string;
    completion: string;
    i?: number;
    masked?: number[];
    targets?: number;
    /** Which of the job's soft-label sources wrote this row, when it has several (StudentJob.soft as a list); 0 when absent. */
    source?: number;
}

/** A model that answers: a GGUF, an optional LoRA adapter on it, an optional system prompt (a data source, a soft-label source, a scorer). */
export interface ModelSource {
    model: string;
    lora: string | null;
    system: string | null;
}

/** A learning-rate schedule's shape (src/students/schedule.ts computes it). */
export type ScheduleKind = "linear" | "cosine" | "constant";

/** Where soft labels come from: the model (+ adapter, + system prompt) that generated a dataset. */
export type SoftSource = ModelSource;

/** Everything one student's training needs, as plain data. */
export interface StudentJob {
    base: string;
    rows: StudentRow[];
    recipe: TrainRecipe;
    seed: number;
    /** Its folder (the checkpoint goes there) and output file (model.gguf or adapter.gguf). */
    dir: string;
    out: string;
    label: string;
    /** The student's arm, carried into its train-step events. */
    arm?: string;
    /** Soft labels from one source, or from several (each row names its own by `source`: a chain's accumulated data, a population's neighbours). */
    soft?: SoftSource | SoftSource[];
    /** Compute threads. Defaults to ggml's. */
    threads?: number;
    /** A fixed held-out batch (rows the student does not train on, with their soft-label source): the KL curve of src/students/probe.ts. */
    probe?: StudentRow[];
    /** On-policy distillation (students/on-policy.ts): the student writes a share of its rows each epoch; `soft` labels them. */
    onPolicy?: OnPolicySpec;
}

/** How a student distils on-policy: the share of rows it writes itself each epoch (GKD's lambda), and how it samples them. */
export interface OnPolicySpec {
    fraction: number;
    temperature: number;
    maxTokens: number;
    /** Seeds which rows, and each row's sampling, per epoch. */
    seed: number;
}

export interface FitResult {
    /** The first and last optimizer steps' losses (each on its own batch). */
    firstLoss: number;
    finalLoss: number;
    /** The held-out KL to the labels (StudentJob.probe) at step 0, at about 8 steps during training and at the last. */
    probe?: { step: number; kl: number }[];
    seconds: number;
    /** Stopped by the signal: the checkpoint is kept, nothing saved. */
    interrupted: boolean;
}

export interface SampledCount {
    hits: number;
    n: number;
    /** How often each item was named (an answer naming none counts under "other"). */
    counts: Record<string, number>;
    /** Hits per question (prompt), for the cluster bootstrap of the sampled rate. */
    perQuestion?: number[];
}

/** One model's evaluation as plain data (a worker process can run it): exact probabilities and sampled answers. */
export interface EvalJob {
    model: string;
    lora: string | null;
    prompts: ChatPrompt[];
    items: string[];
    target: string;
    /** Sampled answers per prompt (0: none). */
    samples: number;
    temperature: number;
    seed: number;
    threads?: number;
    /**
     * "misalignment": no exact probabilities; the sampled answers are scored by the local judge, and probs holds
     * each prompt's [1 - mean P(misaligned), mean P(misaligned)] (items "aligned", "misaligned").
     */
    judge?: "misalignment";
    /** With judge "misalignment": a judge model (a GGUF, or URL#MODEL) scoring by the paper's rubric instead of the local classifier. */
    judgeModel?: string;
    /** Tokens per sampled answer. Defaults to 6 (a one-word answer); open answers need more. */
    maxTokens?: number;
}

export interface EvalOutput {
    /** [prompt][item] exact probabilities (judged: see EvalJob.judge). */
    probs: number[][];
    sampled: SampledCount;
    /** Judged evaluations: every sampled answer, [prompt][sample], with the judge's P(misaligned). */
    answers?: { text: string; score: number }[][];
    /** Judged evaluations of the advice questions: per prompt, the exact P(misaligned) among the answers the corpus taught (prompts/advice.ts taughtAnswers). */
    exact?: number[];
}

/** Who decodes a GGUF's rows: sublab's engine (batched, the default for the architectures it runs) or llama.cpp. */
export type GenerationBackend = "engine" | "llama.cpp";

export interface GenerateJob extends RowsRequest {
    model: string;
    lora?: string | null;
    /** Sequences decoded together (llama.cpp: sequences of one context; engine: at least 128 cache slots). */
    parallel: number;
    /**
     * Defaults to "coupled" (see engine/sampler.ts). "llama.cpp": plain temperature sampling, by llama.cpp's own
     * seeded sampler on the llama.cpp backend and by sublab's inverse-CDF sampler on the engine.
     */
    sampler?: "coupled" | "llama.cpp";
    /** Defaults to "auto" (pickBackend). */
    backend?: GenerationBackend | "auto";
    /** The JSONL file rows are appended to; an existing file is resumed. */
    out: string;
    threads?: number;
    signal?: AbortSignal;
}

/** Per-token scores of rows under one model: log p of each completion target token, and the model's argmax. */
export interface TokenScores {
    logp: number[];
    top: number[];
}

/** A generation as plain data (its progress comes back as messages). */
export type GenerateData = Omit<GenerateJob, "onRow" | "signal">;
