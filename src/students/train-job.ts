/**
 * One fine-tuning run: read the data, tokenize it with the model's own tokenizer and chat template, train
 * (LoRA or full) with a progress bar, write the result. `sublab train` calls this.
 *
 * Interrupted (Ctrl-C, or killed), a run leaves a checkpoint beside its output; the same command resumes it.
 */
import fs from "node:fs";
import path from "node:path";
import { getGgml } from "../engine/ggml.ts";
import type { LoraTarget } from "../engine/model-config.ts";
import { loadModel } from "../engine/model.ts";
import { interruptSignal } from "../util/interrupt.ts";
import { ProgressBars } from "../util/progress.ts";
import { readTrainingJsonl, tokenizeTrainingRows } from "./training-data.ts";
import { defaultLr, flatLossWarning } from "./recommended.ts";
import { fitAndSave } from "./fit-and-save.ts";
import type { TrainResult } from "./trainer-types.ts";

export interface TrainJobOptions {
    model: string;
    data: string;
    out: string;
    mode: "lora" | "full";
    loraRank: number;
    loraAlpha: number;
    loraTargets: LoraTarget[];
    epochs: number;
    /** Defaults to the model's recommended rate (its GGUF's sublab.train.*.lr), else the paper's. */
    lr?: number;
    batchSize: number;
    seed: number;
    /** CPU threads. Defaults to the machine's available parallelism. */
    threads?: number;
    /** Where the checkpoint goes. Defaults to the output's folder (`<out>.checkpoint.gguf`). */
    checkpointDir?: string;
    maxSteps?: number;
    /** Rows per forward/backward graph (gradient accumulation). Defaults to batchSize. */
    microBatchSize?: number;
    /** Print progress. Defaults to true. */
    progress?: boolean;
}

export interface TrainJobResult {
    outPath: string;
    /** Loss of the first step of this invocation and of the last one. */
    firstLoss: number;
    finalLoss: number;
    steps: number;
    interrupted: boolean;
    tokensPerSecond: number;
}

export function checkpointPathFor(opts: Pick<TrainJobOptions, "out" | "checkpointDir">): string {
    const name = `${path.basename(opts.out)}.checkpoint.gguf`;
    return opts.checkpointDir ? path.join(opts.checkpointDir, name) : path.join(path.dirname(opts.out), name);
}

export async function runTrainJob(opts: TrainJobOptions): Promise<TrainJobResult> {
    for (const [flag, file] of [
        ["--model", opts.model],
        ["--data", opts.data],
    ]) {
        if (!fs.existsSync(file)) throw new Error(`${flag}: no such file ${file}`);
    }
    getGgml({ threads: opts.threads });
    const lr = opts.lr ?? defaultLr(opts.model, opts.mode).lr;
    if (opts.lr === undefined && opts.progress !== false) console.error(`lr ${lr}: ${defaultLr(opts.model, opts.mode).source}`);
    const rows = readTrainingJsonl(opts.data);
    const examples = await tokenizeTrainingRows(opts.model, rows);
    const model = loadModel(opts.model);
    const ckPath = checkpointPathFor(opts);
    if (opts.checkpointDir) fs.mkdirSync(opts.checkpointDir, { recursive: true });
    if (fs.existsSync(ckPath) && opts.progress !== false) console.error(`resuming from the checkpoint ${ckPath}`);
    const interrupt = interruptSignal();
    const bars = new ProgressBars();
    let tokens = 0;
    const t0 = performance.now();
    try {
        const summary = (r: TrainResult, interrupted: boolean): TrainJobResult => ({
            outPath: opts.out,
            firstLoss: r.losses[0] ?? NaN,
            finalLoss: r.losses.at(-1) ?? NaN,
            steps: r.steps,
            interrupted,
            tokensPerSecond: r.tokensPerSecond,
        });
        const result = await fitAndSave(model, examples, {
            lora: opts.mode === "lora" ? { rank: opts.loraRank, alpha: opts.loraAlpha, targets: opts.loraTargets } : null,
            out: opts.out,
            mode: opts.mode,
            lr,
            epochs: opts.epochs,
            batchSize: opts.batchSize,
            microBatchSize: opts.microBatchSize,
            seed: opts.seed,
            maxSteps: opts.maxSteps,
            checkpointPath: ckPath,
            signal: interrupt.signal,
            onStep: (s) => {
                if (opts.progress === false) return;
                tokens += s.tokens;
                const secs = (performance.now() - t0) / 1000;
                bars.update("train", s.step, s.totalSteps, { loss: s.loss.toFixed(4), "tok/s": Math.round(tokens / secs), lr: s.lr.toExponential(1) });
            },
        });
        bars.finish();
        const flat = flatLossWarning(result.losses, lr);
        if (flat && opts.progress !== false) console.error(flat);
        if (result.interrupted) {
            return summary(result, true);
        }
        return summary(result, false);
    } finally {
        interrupt.release();
        model.free();
    }
}
