/**
 * Where a run's time went: seconds per pipeline stage, measured around the stage calls. Stages nest (the
 * filter stage generates its rows first): a stage's own time excludes the stages inside it, so the shares add up
 * to the whole. A stage found in the cache costs (almost) nothing and shows as such.
 */
export const TIMED_STAGES = ["teacher", "generate", "filter", "students", "eval", "report"] as const;
export type TimedStage = (typeof TIMED_STAGES)[number];

export class StageClock {
    readonly seconds: Record<TimedStage, number> = Object.fromEntries(TIMED_STAGES.map((s) => [s, 0])) as Record<TimedStage, number>;
    private readonly stack: { inner: number }[] = [];

    /** Runs `fn`, adding its time (less that of the stages timed inside it) to `stage`. */
    async time<T>(stage: TimedStage, fn: () => Promise<T> | T): Promise<T> {
        const frame = { inner: 0 };
        this.stack.push(frame);
        const t0 = performance.now();
        try {
            return await fn();
        } finally {
            const elapsed = (performance.now() - t0) / 1000;
            this.stack.pop();
            this.seconds[stage] += elapsed - frame.inner;
            const parent = this.stack.at(-1);
            if (parent) parent.inner += elapsed;
        }
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
