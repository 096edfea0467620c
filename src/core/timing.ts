/**
 * Where a run's time went: seconds per pipeline stage, measured around the stage calls. Stages nest (the
 * filter stage generates its rows first) and run side by side (in the worker pool): each moment counts once,
 * for the innermost stage, so the shares add up to the whole. A stage found in the cache costs (almost) nothing.
 */
export const TIMED_STAGES = ["teacher", "generate", "filter", "students", "eval", "report"] as const;
export type TimedStage = (typeof TIMED_STAGES)[number];

export class StageClock {
    private readonly calls: { stage: TimedStage; t0: number; t1: number }[] = [];
    private readonly extra: Partial<Record<TimedStage, number>> = {};

    /**
     * Seconds per stage: each moment of the run counts once, for the innermost stage running then (the one
     * started last), so nested stages are not counted in their parent and stages run side by side (the teacher's
     * and the control's generation) are not counted twice.
     */
    get seconds(): Record<TimedStage, number> {
        const out = Object.fromEntries(TIMED_STAGES.map((s) => [s, this.extra[s] ?? 0])) as Record<TimedStage, number>;
        const cuts = [...new Set(this.calls.flatMap((c) => [c.t0, c.t1]))].sort((x, y) => x - y);
        for (let i = 0; i + 1 < cuts.length; i++) {
            const [a, b] = [cuts[i]!, cuts[i + 1]!];
            let inner: (typeof this.calls)[number] | undefined;
            for (const c of this.calls) if (c.t0 <= a && c.t1 >= b && (!inner || c.t0 >= inner.t0)) inner = c;
            if (inner) out[inner.stage] += (b - a) / 1000;
        }
        return out;
    }

    /** Runs `fn`, counting its time for `stage` (less that of the stages timed inside it). */
    async time<T>(stage: TimedStage, fn: () => Promise<T> | T): Promise<T> {
        const call = { stage, t0: performance.now(), t1: Infinity };
        this.calls.push(call);
        try {
            return await fn();
        } finally {
            call.t1 = performance.now();
        }
    }

    /** Adds seconds measured outside time() to a stage. */
    add(stage: TimedStage, seconds: number): void {
        this.extra[stage] = (this.extra[stage] ?? 0) + seconds;
    }
}

/** The timing table printed at the end of a run: seconds and share of the run per stage. */
export function timingTable(seconds: Partial<Record<TimedStage, number>>, total: number): string {
    const lines = ["stage      seconds  share", "---------  -------  -----"];
    for (const s of TIMED_STAGES) {
        const v = seconds[s] ?? 0;
        lines.push(`${s.padEnd(9)}  ${v.toFixed(1).padStart(7)}  ${total > 0 ? `${((100 * v) / total).toFixed(0)}%`.padStart(5) : "    -"}`);
    }
    lines.push(`${"total".padEnd(9)}  ${total.toFixed(1).padStart(7)}`);
    return lines.join("\n");
}
