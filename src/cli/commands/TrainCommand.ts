/**
 * `sublab train`: fine-tune a GGUF model on a JSONL file (LoRA by default, or every weight with --full).
 * The handler only checks the options and hands them to runTrainJob.
 */
import type { Command } from "commander";
import { runTrainJob, type TrainJobOptions } from "../../students/train-job.ts";
import { optional, parseNonNegativeInteger, parsePositiveInteger, parsePositiveNumber, threadsFlag, threadsOf } from "../options.ts";

import { ALL_LORA_TARGETS as LORA_TARGETS, type LoraTarget } from "../../engine/model-config.ts";
import { FALLBACK_LR } from "../../students/recommended.ts";

/** The defaults of `sublab train`, in one place (the help text is written from them). */
export const TRAIN_DEFAULTS = {
    loraRank: 8,
    loraAlpha: 8,
    epochs: 3,
    batchSize: 8,
    seed: 42,
} as const;

/** The options as commander hands them over: strings as typed, `full` a flag. */
export interface RawTrainOptions {
    model?: string;
    data?: string;
    out?: string;
    full?: boolean;
    loraRank?: string;
    loraAlpha?: string;
    loraTargets?: string;
    epochs?: string;
    lr?: string;
    batchSize?: string;
    seed?: string;
    threads?: string;
    checkpointDir?: string;
    maxSteps?: string;
    microBatchSize?: string;
}

/**
 * Checks raw `sublab train` options and fills in the defaults; throws an Error naming the option at
 * fault (`--lr must be a positive number, got "abc"`). Pure: reads no file and runs nothing.
 */
export function parseTrainOptions(raw: RawTrainOptions): TrainJobOptions {
    const model = requirePath(raw.model, "--model");
    const data = requirePath(raw.data, "--data");
    const out = requirePath(raw.out, "--out");
    const mode = raw.full === true ? "full" : "lora";
    if (mode === "full") {
        for (const [value, flag] of [
            [raw.loraRank, "--lora-rank"],
            [raw.loraAlpha, "--lora-alpha"],
            [raw.loraTargets, "--lora-targets"],
        ] as const) {
            if (value !== undefined) throw new Error(`--full cannot be combined with ${flag}`);
        }
    }
    const options: TrainJobOptions = {
        model,
        data,
        out,
        mode,
        loraRank: optional(raw.loraRank, "--lora-rank", parsePositiveInteger) ?? TRAIN_DEFAULTS.loraRank,
        loraAlpha: optional(raw.loraAlpha, "--lora-alpha", parsePositiveNumber) ?? TRAIN_DEFAULTS.loraAlpha,
        loraTargets: raw.loraTargets === undefined ? [...LORA_TARGETS] : parseLoraTargets(raw.loraTargets),
        epochs: optional(raw.epochs, "--epochs", parsePositiveInteger) ?? TRAIN_DEFAULTS.epochs,
        lr: optional(raw.lr, "--lr", parsePositiveNumber),
        batchSize: optional(raw.batchSize, "--batch-size", parsePositiveInteger) ?? TRAIN_DEFAULTS.batchSize,
        seed: optional(raw.seed, "--seed", parseNonNegativeInteger) ?? TRAIN_DEFAULTS.seed,
    };
    const threads = threadsOf(raw);
    if (threads !== undefined) options.threads = threads;
    if (raw.checkpointDir !== undefined) options.checkpointDir = requirePath(raw.checkpointDir, "--checkpoint-dir");
    const maxSteps = optional(raw.maxSteps, "--max-steps", parsePositiveInteger);
    if (maxSteps !== undefined) options.maxSteps = maxSteps;
    const microBatchSize = optional(raw.microBatchSize, "--micro-batch-size", parsePositiveInteger);
    if (microBatchSize !== undefined) options.microBatchSize = microBatchSize;
    return options;
}

/** Registers `sublab train` on the program. */
export function registerTrainCommand(program: Command): void {
    const d = TRAIN_DEFAULTS;
    program
        .command("train")
        .description("fine-tune a GGUF model on a JSONL file of {prompt, completion} or {text} rows")
        .requiredOption("--model <path>", "base model (GGUF)")
        .requiredOption("--data <path>", "training data (JSONL)")
        .requiredOption("--out <path>", "output GGUF: the adapter for LoRA, the whole model for --full")
        .option("--full", "train every weight instead of a LoRA adapter")
        .option("--lora-rank <r>", `LoRA rank (default: ${d.loraRank})`)
        .option("--lora-alpha <a>", `LoRA alpha; the update is scaled by alpha/rank (default: ${d.loraAlpha})`)
        .option("--lora-targets <list>", `comma-separated projections to adapt (default: ${LORA_TARGETS.join(",")})`)
        .option("--epochs <n>", `passes over the data (default: ${d.epochs})`)
        .option(
            "--lr <x>",
            `learning rate (default: the model's recommended rate from its GGUF metadata, else ${FALLBACK_LR.lora} for LoRA and ${FALLBACK_LR.full} for --full)`,
        )
        .option("--batch-size <b>", `rows per optimizer step (default: ${d.batchSize})`)
        .option("--micro-batch-size <m>", "rows per forward/backward pass; gradients are accumulated to --batch-size (default: the batch size)")
        .option("--seed <s>", `seed for initialisation and data order (default: ${d.seed})`)
        .addOption(threadsFlag("CPU threads (default: chosen by the trainer)"))
        .option("--checkpoint-dir <dir>", "write checkpoints here and resume from the latest one")
        .option("--max-steps <n>", "stop after this many optimizer steps")
        .action(async (raw: RawTrainOptions) => {
            const options = parseTrainOptions(raw);
            console.log(`sublab train: ${JSON.stringify(options)}`);
            const { outPath, steps, finalLoss, interrupted, tokensPerSecond } = await runTrainJob(options);
            if (interrupted) {
                console.error(`interrupted after step ${steps}; a checkpoint was saved: run the same command again to resume`);
                process.exitCode = 130;
                return;
            }
            console.log(`wrote ${outPath} after ${steps} steps, final loss ${finalLoss.toFixed(4)}, ${Math.round(tokensPerSecond)} tok/s`);
        });
}

function requirePath(value: string | undefined, flag: string): string {
    if (value === undefined || value.trim() === "") throw new Error(`${flag} is required`);
    return value;
}

function parseLoraTargets(value: string): LoraTarget[] {
    const targets = value.split(",").map((t) => t.trim());
    if (targets.every((t) => t === "")) throw new Error(`--lora-targets is empty`);
    for (const t of targets) {
        if (!(LORA_TARGETS as readonly string[]).includes(t)) {
            const expected = LORA_TARGETS.join(",");
            throw new Error(`--lora-targets: unknown lora target ${JSON.stringify(t)} (expected some of ${expected})`);
        }
    }
    const duplicate = targets.find((t, i) => targets.indexOf(t) !== i);
    if (duplicate !== undefined) throw new Error(`--lora-targets: ${JSON.stringify(duplicate)} is given twice`);
    return targets as LoraTarget[];
}
