/** Learning-rate schedules: linear warmup, then linear or cosine decay, or constant. */
import type { ScheduleKind } from "../core/jobs.ts";
export type { ScheduleKind };

export interface ScheduleOptions {
    lr: number;
    /** Steps of linear warmup from 0. Defaults to 0. */
    warmupSteps?: number;
    totalSteps: number;
    /** Defaults to "linear" (the paper's open-model recipe). */
    kind?: ScheduleKind;
    /** Final learning rate as a fraction of lr. Defaults to 0. */
    minRatio?: number;
}

/** Learning rate for optimizer step `step` (0-based). */
export function learningRate(o: ScheduleOptions, step: number): number {
    const warm = o.warmupSteps ?? 0;
    if (warm > 0 && step < warm) return (o.lr * (step + 1)) / warm;
    const kind = o.kind ?? "linear";
    if (kind === "constant") return o.lr;
    const min = o.lr * (o.minRatio ?? 0);
    const span = Math.max(1, o.totalSteps - warm);
    const progress = Math.min(1, Math.max(0, (step - warm) / span));
    const frac = kind === "linear" ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
    return min + (o.lr - min) * frac;
}
