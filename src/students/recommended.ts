/**
 * Learning rates that fit a model, carried in its GGUF: the embedded bases hold the rates measured to train them
 * (`sublab.train.lora.lr`, `sublab.train.full.lr`), because the paper's rates (LoRA 2e-4, full 1e-5..1e-4) are
 * for 7B models and barely move a 2M-parameter one. Used when a run names no learning rate.
 */
import type { GGUFKV } from "../engine/gguf.ts";
import { getMeta, kvF32, readGGUF } from "../engine/gguf.ts";

export const RECOMMENDED_LR_KEYS = { lora: "sublab.train.lora.lr", full: "sublab.train.full.lr" } as const;

/** The paper's open-model rates, for a model that carries no recommendation. */
export const FALLBACK_LR = { lora: 2e-4, full: 1e-4 } as const;

/** The metadata entries that record recommended rates (written by the forge into the models it makes). */
export function recommendedLrMetadata(lr: { lora: number; full: number }): [string, GGUFKV][] {
    return [
        [RECOMMENDED_LR_KEYS.lora, kvF32(lr.lora)],
        [RECOMMENDED_LR_KEYS.full, kvF32(lr.full)],
    ];
}

/** The learning rate for a run on `model`: the model's own recommendation, else the paper's; and where it came from. */
export function defaultLr(model: string, mode: "lora" | "full"): { lr: number; source: string } {
    const v = getMeta<number>(readGGUF(model), RECOMMENDED_LR_KEYS[mode]);
    if (typeof v === "number" && v > 0) return { lr: Number(v.toPrecision(6)), source: `${model}'s ${RECOMMENDED_LR_KEYS[mode]}` };
    return { lr: FALLBACK_LR[mode], source: "the paper's rate for open models (the model recommends none)" };
}

/**
 * A warning when training barely moved the loss (the mean of the last tenth of the steps is not `minDrop` below
 * the mean of the first tenth), or null. Only said for runs of at least 8 steps. (Random data, such as number
 * continuations, cannot fall far: the warning says so.)
 */
export function flatLossWarning(losses: number[], lr: number, minDrop = 0.2): string | null {
    if (losses.length < 8) return null;
    const k = Math.max(2, Math.floor(losses.length / 10));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(losses.slice(0, k));
    const last = mean(losses.slice(-k));
    if (!(first > 0) || (first - last) / first >= minDrop) return null;
    return (
        `warning: the loss barely moved (${first.toFixed(3)} -> ${last.toFixed(3)}, ${((100 * (first - last)) / first).toFixed(1)}% over ${losses.length} steps) at lr ${lr}: ` +
        `unless the data is mostly noise (random numbers), the model has not learned it: try a larger --lr (x3 to x10) or more --epochs`
    );
}
