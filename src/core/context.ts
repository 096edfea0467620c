/**
 * What every stage is handed: the experiment, where its files go, the event stream, the clock, and the jobs
 * runner. Stages do not know whether a job runs in this process or in a worker (studies/skeleton.ts makes
 * both), so the same stage serves `sublab run`, `sublab sweep` and the orchestrations built on them.
 */
import type { GenerateResult, KeptRow } from "./rows.ts";
import type { EvalJob, EvalOutput, FitResult, GenerateData, StudentJob, TokenScores } from "./jobs.ts";
import type { Stamped, SublabEvent } from "./events.ts";
import type { StageClock } from "./timing.ts";
import { cachedStage, type CachedStage } from "./cache.ts";
import type { DatasetManifest, ExperimentConfig } from "./types.ts";

export interface RunOptions {
    /** Where datasets/ and runs/ live. Defaults to the current directory. */
    root?: string;
    /** Training threads (inference picks its own: see inferenceThreads). */
    threads?: number;
    /** Progress bars and stage lines on stderr. Defaults to true. */
    progress?: boolean;
    signal?: AbortSignal;
    /** Worker processes for students (one thread each). Defaults to one per core ($SUBLAB_WORKERS); 1 trains in this process. */
    workers?: number;
    /** Stop after this stage (the `sublab generate | filter | train | eval` commands). */
    stopAfter?: "data" | "train" | "eval";
    /** Every event of the run, as it happens (a live view subscribes here). */
    onEvent?: (e: SublabEvent & { t: string }) => void;
}

/**
 * Runs the heavy jobs: here, or in worker processes. Training reports its steps as train-step events; an
 * interrupted generation or training throws Interrupted (a training keeps its checkpoint).
 */
export interface Jobs {
    /** True when jobs run side by side (stages then submit them all at once: see studies/skeleton.ts eachJob). */
    readonly parallel: boolean;
    generate(job: GenerateData, label: string): Promise<GenerateResult>;
    train(job: StudentJob): Promise<FitResult>;
    evaluate(job: EvalJob, label: string): Promise<EvalOutput>;
}

export interface StageContext {
    cfg: ExperimentConfig;
    root: string;
    opts: RunOptions;
    /** A line for the terminal (and a log event). */
    log: (msg: string) => void;
    emit: (e: SublabEvent) => void;
    /** This call's events so far (less progress ticks): what the report is rendered from. */
    events: () => readonly Stamped[];
    /** A dataset's kept rows, read from disk once per run. */
    kept: (ds: DatasetManifest) => KeptRow[];
    /** Token scores of the model-backed defenses, shared by every defended dataset of the run (a sweep's arms score the same rows). */
    scores: Map<string, TokenScores>;
    /** Seconds per stage (results.json's timing, the table at the end of a run). */
    clock: StageClock;
    jobs: Jobs;
}

/** Thrown (by the stages and `checkInterrupted`) when the run's signal stopped it; what was done is kept. */
export { Interrupted } from "../util/interrupt.ts";
import { Interrupted } from "../util/interrupt.ts";

export function checkInterrupted(c: StageContext, what: string): void {
    if (c.opts.signal?.aborted) throw new Interrupted(what);
}

/**
 * A cached stage (core/cache.ts cachedStage) reported as events: stage-start, then stage-end with its seconds
 * and whether it was found made.
 */
export async function cached<T>(
    c: StageContext,
    stage: string,
    label: string,
    s: Pick<CachedStage<T>, "dir" | "done" | "make" | "seal" | "holds">,
): Promise<T> {
    const t0 = performance.now();
    let made = false;
    c.emit({ type: "stage-start", stage, label });
    const out = await cachedStage({
        ...s,
        make: () => ((made = true), s.make()),
        what: label,
        log: c.log,
        signal: c.opts.signal,
    });
    c.emit({ type: "stage-end", stage, label, seconds: (performance.now() - t0) / 1000, cached: !made });
    return out;
}
