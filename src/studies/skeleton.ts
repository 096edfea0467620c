/**
 * The context a run's stages share (core/context.ts StageContext): its event stream (the library's onEvent,
 * the terminal view, runs/<name>/events.jsonl), the kept rows read once, and the jobs runner, in this process
 * or, inside `withWorkerPool`, in worker processes side by side.
 */
import fs from "node:fs";
import path from "node:path";
import { fileHash } from "../core/cache.ts";
import { Interrupted, type Jobs, type RunOptions, type StageContext } from "../core/context.ts";
import { emitter, eventFile, type Stamped, type SublabEvent } from "../core/events.ts";
import type { KeptRow } from "../core/rows.ts";
import { StageClock } from "../core/timing.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { StudyHeader } from "../core/results.ts";
import { scoreModel } from "../evaluate/evaluate.ts";
import { generateRaw } from "../teacher/generate.ts";
import { terminalView } from "../report/terminal.ts";
import { fitStudent } from "../students/fit-student.ts";
import { readJsonl } from "../util/files.ts";
import { itemsOf } from "../prompts/items.ts";
import { SUBLAB_VERSION } from "../core/version.ts";
import { defaultWorkers, WorkerPool } from "./pool.ts";
import { DEFAULT_STATS, designWarnings } from "../stats/verdict.ts";

export type { RunOptions };

export function checkModel(file: string, field: string): void {
    if (!fs.existsSync(file)) throw new Error(`${field}: no such model file ${file}`);
}

/** Jobs from runners that report interruption in their results: an interrupted generation or training throws Interrupted. */
function throwingInterrupted(parallel: boolean, run: { generate: Jobs["generate"]; train: Jobs["train"]; evaluate: Jobs["evaluate"] }): Jobs {
    return {
        parallel,
        async generate(job, label) {
            const res = await run.generate(job, label);
            if (res.interrupted) throw new Interrupted(`generation of ${label}`);
            return res;
        },
        async train(job) {
            const r = await run.train(job);
            if (r.interrupted) throw new Interrupted(`training of ${job.label}`);
            return r;
        },
        evaluate: run.evaluate,
    };
}

/** Jobs run in this process, one at a time. */
function localJobs(c: Pick<StageContext, "opts" | "emit">): Jobs {
    const signal = c.opts.signal;
    return throwingInterrupted(false, {
        generate: (job, label) => generateRaw({ ...job, signal, onRow: (done, total) => c.emit({ type: "progress", label, done, total }) }),
        train: (job) => fitStudent({ threads: c.opts.threads, ...job }, { signal, onStep: (step, total, loss, probe) => c.emit({ type: "train-step", label: job.label, step, total, loss, ...(probe !== undefined ? { probe } : {}) }) }),
        evaluate: (job) => scoreModel(job),
    });
}

/**
 * The shared state of a run's stages (the experiment, where its files go, its events, the kept rows read once);
 * checks the models exist. `run` names the run folder events.jsonl is appended to.
 */
export function makeContext(cfg: ExperimentConfig, opts: RunOptions, run: string = cfg.name): StageContext {
    const root = path.resolve(opts.root ?? ".");
    checkModel(cfg.models.base, "models.base");
    checkModel(cfg.models.cross, "models.cross");
    if (fileHash(cfg.models.base) === fileHash(cfg.models.cross)) throw new Error("models.cross: the same file as models.base; the cross-model arm needs a base from another initialisation");
    fs.mkdirSync(path.join(root, "datasets"), { recursive: true });
    const keptCache = new Map<string, KeptRow[]>();
    const kept = (ds: DatasetManifest) => {
        let rows = keptCache.get(ds.id);
        if (!rows) keptCache.set(ds.id, (rows = readJsonl<KeptRow>(path.join(root, "datasets", ds.id, "kept.jsonl"))));
        return rows;
    };
    const recorded: Stamped[] = [];
    const record = (e: Stamped) => void (e.type !== "progress" && recorded.push(e));
    const emit = emitter(record, opts.onEvent, eventFile(path.join(root, "runs", run, "events.jsonl")), opts.progress === false ? undefined : terminalView());
    const c: StageContext = { cfg, root, opts, log: (message) => emit({ type: "log", message }), emit, events: () => recorded, kept, scores: new Map(), clock: new StageClock(), jobs: undefined! };
    c.jobs = localJobs(c);
    return c;
}

/**
 * Runs `fn` with the context's jobs going to a pool of workers (generation, students, evaluations) when more
 * than one worker is asked for and there are several students; one progress bar then follows all the students.
 */
export async function withWorkerPool<T>(c: StageContext, students: number, fn: () => Promise<T>): Promise<T> {
    const workers = Math.min(c.opts.workers ?? defaultWorkers(), students);
    if (workers <= 1 || c.jobs.parallel) return fn();
    const group = { label: `students (${workers} workers)`, size: students };
    const pool = new WorkerPool({ workers, signal: c.opts.signal, onStep: (job, step, total, loss, probe) => c.emit({ type: "train-step", label: job.label, step, total, loss, group, ...(probe !== undefined ? { probe } : {}) }) });
    const local = c.jobs;
    c.jobs = throwingInterrupted(true, {
        generate: (job, label) => pool.generate(job, label, (done, total) => c.emit({ type: "progress", label, done, total })),
        train: (job) => pool.run(job),
        evaluate: (job, label) => pool.evaluate(job, label),
    });
    c.emit({ type: "pool", state: "start", workers, group: group.label });
    try {
        return await fn();
    } finally {
        c.jobs = local;
        c.emit({ type: "pool", state: "end", workers, group: group.label });
        await pool.close();
    }
}

/**
 * A study's start (a sweep's, a chain's, a population's): its context, its items, the run-start event, and
 * `header(description)`, what its results open with, the seconds counted from here to the call.
 */
export function startStudy(
    cfg: ExperimentConfig,
    opts: RunOptions,
    name: string,
    families: Parameters<typeof designWarnings>[0] = [],
): { c: StageContext; items: string[]; header: (description: string) => StudyHeader } {
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    const c = makeContext(cfg, opts, name);
    const items = itemsOf(cfg.teacher.category);
    // The design check, before anything runs: families whose permutation floor cannot pass Holm's correction.
    const design = designWarnings(families, cfg.stats ?? DEFAULT_STATS);
    c.emit({ type: "run-start", run: name, sublabVersion: SUBLAB_VERSION, startedAt, config: cfg, target: cfg.teacher.target, items, ...(design.length ? { design } : {}) });
    for (const note of design) c.log(`design: ${note}`);
    const header = (description: string): StudyHeader => ({ description, sublabVersion: SUBLAB_VERSION, startedAt, seconds: (performance.now() - t0) / 1000, experiment: cfg, target: cfg.teacher.target, ...(design.length ? { design } : {}) });
    return { c, items, header };
}

/**
 * The same context under another experiment configuration (a chain's generation, a population's round and agent:
 * their own prompts and seeds): events, files and kept rows are shared, and jobs go wherever `c`'s go (withWorkerPool
 * swaps them on `c`).
 */
export function withConfig(c: StageContext, cfg: ExperimentConfig): StageContext {
    return Object.defineProperty({ ...c, cfg }, "jobs", { get: () => c.jobs });
}

/** `stage` over every spec: side by side when jobs run in parallel, one after another when not. */
export async function eachJob<S, T>(c: StageContext, specs: readonly S[], stage: (spec: S) => Promise<T>): Promise<T[]> {
    if (c.jobs.parallel) return Promise.all(specs.map(stage));
    const out: T[] = [];
    for (const spec of specs) out.push(await stage(spec));
    return out;
}

export type { SublabEvent };
