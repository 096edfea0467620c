/**
 * Training checkpoints: a GGUF holding the trained tensors and AdamW's moments at a step, the losses of the steps
 * before it, and a fingerprint of everything that must match for a run to resume from it (model, data, options).
 * A resumed run reports the losses of the whole run, as one never stopped does (a run killed after its last
 * checkpoint resumes with no step left, and its first and final losses still come from the checkpoint).
 */
import { createHash } from "node:crypto";
import { GGMLType, GGUFValueType, getMeta, kvArray, kvString, kvU32, readGGUF, readTensorF32, writeGGUF, type GGUFKV } from "../engine/gguf.ts";
import type { TensorStore } from "../engine/store.ts";
import type { Model } from "../engine/model.ts";
import type { TrainExample, TrainOptions } from "./trainer-types.ts";

const CHECKPOINT_FORMAT = "sublab-train-checkpoint";
const CHECKPOINT_VERSION = 1;

/** A fingerprint of everything that must match for a checkpoint to be resumed. */
export function runFingerprint(model: Model, names: string[], examples: TrainExample[], opts: TrainOptions): string {
    const h = createHash("sha256");
    const { signal: _s, onStep: _o, checkpointPath: _c, checkpointEvery: _e, maxSteps: _m, trainable: _t, ...rest } = opts;
    h.update(JSON.stringify({ config: model.config, lora: model.lora?.spec, names, rest }));
    for (const e of examples) {
        h.update(new Uint8Array(e.tokens.buffer, e.tokens.byteOffset, e.tokens.byteLength));
        h.update(e.targetMask);
        if (e.soft) h.update(new Uint8Array(e.soft.buffer, e.soft.byteOffset, e.soft.byteLength));
        for (const a of e.softSparse ? [e.softSparse.offsets, e.softSparse.ids, e.softSparse.probs] : [])
            h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    return h.digest("hex").slice(0, 32);
}

export function saveCheckpoint(
    path: string,
    fingerprint: string,
    step: number,
    losses: readonly number[],
    store: TensorStore,
    names: string[],
    moments: TensorStore,
): void {
    const meta: [string, GGUFKV][] = [
        ["general.type", kvString(CHECKPOINT_FORMAT)],
        ["sublab.checkpoint.version", kvU32(CHECKPOINT_VERSION)],
        ["sublab.checkpoint.fingerprint", kvString(fingerprint)],
        ["sublab.checkpoint.step", kvU32(step)],
        // In float64, so that a resumed run's losses are the very numbers of one never stopped.
        ["sublab.checkpoint.losses", kvArray(GGUFValueType.FLOAT64, losses)],
    ];
    const tensors = names.flatMap((n) =>
        [n, `adam_m.${n}`, `adam_v.${n}`].map((name) => {
            const s = name === n ? store : moments;
            return { name, ne: s.shape(name), type: GGMLType.F32 as const, data: s.get(name) };
        }),
    );
    writeGGUF(path, meta, tensors);
}

/** Restores the tensors and moments of a checkpoint; its step, and the losses of the steps before it (none in a checkpoint written before they were kept). */
export function loadCheckpoint(
    path: string,
    fingerprint: string,
    store: TensorStore,
    names: string[],
    moments: TensorStore,
): { step: number; losses: number[] } {
    const file = readGGUF(path);
    if (getMeta(file, "general.type") !== CHECKPOINT_FORMAT) throw new Error(`${path} is not a sublab training checkpoint`);
    const version = getMeta<number>(file, "sublab.checkpoint.version");
    if (version !== CHECKPOINT_VERSION) throw new Error(`${path}: checkpoint version ${version}, this sublab reads version ${CHECKPOINT_VERSION}`);
    if (getMeta(file, "sublab.checkpoint.fingerprint") !== fingerprint) {
        throw new Error(`${path} belongs to a different run (model, data or options changed): delete it or use another checkpoint path`);
    }
    for (const n of names) {
        store.set(n, readTensorF32(file, n));
        moments.set(`adam_m.${n}`, readTensorF32(file, `adam_m.${n}`));
        moments.set(`adam_v.${n}`, readTensorF32(file, `adam_v.${n}`));
    }
    const losses = getMeta<number[]>(file, "sublab.checkpoint.losses");
    return { step: Number(getMeta<number>(file, "sublab.checkpoint.step")), losses: Array.isArray(losses) ? losses.map(Number) : [] };
}
