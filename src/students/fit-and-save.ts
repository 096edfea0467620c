/**
 * The one fine-tune-and-save sequence: optional LoRA adapters on the model, the training loop with its
 * checkpoint, then the adapter or the whole model written, and the checkpoint removed once every epoch ran.
 * Students (students/fit-student.ts), `sublab train` (students/train-job.ts) and the forge (forge/forge.ts) all fit through it.
 */
import fs from "node:fs";
import path from "node:path";
import type { GGMLType } from "../engine/gguf.ts";
import type { LoraSpec } from "../engine/llama.ts";
import type { Model } from "../engine/model.ts";
import { train } from "./trainer.ts";
import { type TrainExample, type TrainOptions, type TrainResult } from "./trainer-types.ts";

export interface FitOptions extends TrainOptions {
    seed: number;
    /** Train LoRA adapters of this shape (seeded by `seed`) and save only them; absent: train and save the whole model. */
    lora?: LoraSpec | null;
    /** The output file (adapter or model). Not written when the run is interrupted. */
    out: string;
    /** The whole model's weight type on disk (default: the model's save default). */
    saveType?: GGMLType.F32 | GGMLType.F16;
}

/** Fits `model` on `examples` and saves the result; an interrupted run keeps its checkpoint and saves nothing. */
export async function fitAndSave(model: Model, examples: TrainExample[], opts: FitOptions): Promise<TrainResult> {
    const { lora, out, saveType, ...trainOpts } = opts;
    if (lora) model.addLora(lora, opts.seed);
    const result = await train(model, examples, trainOpts);
    if (result.interrupted) return result;
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    if (lora) model.saveLora(out);
    else model.save(out, saveType === undefined ? {} : { type: saveType });
    // A finished run needs no checkpoint; one stopped by maxSteps keeps it so that it can be continued.
    if (result.complete && opts.checkpointPath) fs.rmSync(opts.checkpointPath, { force: true });
    return result;
}
