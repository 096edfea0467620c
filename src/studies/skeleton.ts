/**
 * The context a run's stages share (core/context.ts StageContext): its event stream (the library's onEvent,
 * the terminal view, runs/<name>/events.jsonl), the kept rows read once, and the jobs runner, in this process
 * or, inside `withWorkerPool`, in worker processes side by side.
 */
import { defenderUses, withQuality } from "../data/defender-use.ts";
import { defenderLine } from "../report/defender-report.ts";
import fs from "node:fs";
import path from "node:path";
import { fileHash } from "../core/cache.ts";
import { checkInterrupted, Interrupted, type Jobs, type RunOptions, type StageContext } from "../core/context.ts";
import { emitter, eventFile, type Stamped, type SublabEvent } from "../core/events.ts";
import type { StudentJob } from "../core/jobs.ts";
import type { KeptRow } from "../core/rows.ts";
import { StageClock } from "../core/timing.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { ModelEval, Results, StudyHeader, StudyRunResult } from "../core/results.ts";
import type { TimedStage } from "../core/timing.ts";
import { evalStage } from "../evaluate/eval-stage.ts";
import { teacherStage, type Teacher } from "../teacher/teacher.ts";
import type { AnyResults, ReportKind } from "./reports.ts";
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

/** A student's optimizer step as an event (its held-out KL when it was probed; its pool's progress group). */
function trainStep(job: StudentJob, step: number, total: number, loss: number, probe?: number, group?: { label: string; size: number }): SublabEvent {
    return {
        type: "train-step",
        label: job.label,
        ...(job.arm ? { arm: job.arm } : {}),
        step,
        total,
        loss,
        ...(group ? { group } : {}),
        ...(probe !== undefined ? { probe } : {}),
    };
}

/** Jobs run in this process, one at a time. */
function localJobs(c: Pick<StageContext, "opts" | "emit">): Jobs {
    const signal = c.opts.signal;
    return throwingInterrupted(false, {
        generate: (job, label) => generateRaw({ ...job, signal, onRow: (done, total) => c.emit({ type: "progress", label, done, total }) }),
        train: (job) =>
            fitStudent(
                { threads: c.opts.threads, ...job },
                {
                    signal,
                    onStep: (step, total, loss, probe) => c.emit(trainStep(job, step, total, loss, probe)),
                },
            ),
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
    if (fileHash(cfg.models.base) === fileHash(cfg.models.cross))
        throw new Error("models.cross: the same file as models.base; the cross-model arm needs a base from another initialisation");
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
    const c: StageContext = {
        cfg,
        root,
        opts,
        log: (message) => emit({ type: "log", message }),
        emit,
        events: () => recorded,
        kept,
        scores: new Map(),
        clock: new StageClock(),
        jobs: undefined!,
    };
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
    const pool = new WorkerPool({
        workers,
        signal: c.opts.signal,
        onStep: (job, step, total, loss, probe) => c.emit(trainStep(job, step, total, loss, probe, group)),
    });
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

/** What a study's stages are given: its context and clock, its items, the time it started, and its header. */
export interface Study {
    c: StageContext;
    items: string[];
    /** Runs `fn`, counting its time for `stage` in the study's timing (core/timing.ts). */
    time: <T>(stage: TimedStage, fn: () => Promise<T> | T) => Promise<T>;
    /** What a study's results open with (a sweep's, a chain's...), the seconds counted from the start to the call. */
    header: (description: string) => StudyHeader;
    /** The teacher of `cc` (default: the study's own context), timed. */
    teacher: (cc?: StageContext) => Promise<Teacher>;
    /** The base model's and a teacher's evaluations, as every study reports them. */
    evaluateBase: (cc?: StageContext) => Promise<ModelEval>;
    evaluateTeacher: (teacher: Teacher, cc?: StageContext) => Promise<ModelEval>;
}

/** A study: what it is called and runs on, and its two phases (before the worker pool, and in it). */
export interface StudySpec<R extends AnyResults, P> {
    name: string;
    cfg: ExperimentConfig;
    opts: RunOptions;
    report: ReportKind<R>;
    /** The design check's notes, logged before anything runs (families whose floor cannot pass their correction). */
    design: string[];
    /** More of the run-start event (a misalignment run's judge quality). */
    start?: Pick<Extract<SublabEvent, { type: "run-start" }>, "judge">;
    /** Every defense the study's data pass through: the local judge and paraphrase models among them are measured first. */
    defenses?: readonly string[];
    /** Stages run before the worker pool starts (the teacher, the data): what `students` and `stages` need. */
    prepare: (s: Study) => Promise<P>;
    /** Students the pool is sized for (one worker process per core up to this many). */
    students: (p: P) => number;
    /**
     * The students, evaluations and statistics, in the pool (when there is more than one core). Returns how to make
     * the results once the run-end event is out, or `stopped` (the run's `sublab generate | train | eval`).
     */
    stages: (s: Study, p: P) => Promise<{ results: () => R } | { stopped: StoppedRun }>;
}

export interface StoppedRun {
    stopped: NonNullable<RunOptions["stopAfter"]>;
    datasets: Results["datasets"];
}

/**
 * The one skeleton every study runs in (a run's, a sweep's, a chain's, a population's, a recipe study's): its
 * context and run-start event with the design check, the teacher and data before the worker pool, its students
 * and evaluations in the pool, the timing of every stage, the run-end event, and its report written once
 * through its kind (reports.ts) to runs/<name>/.
 */
export async function conductStudy<R extends AnyResults, P>(spec: StudySpec<R, P>): Promise<StudyRunResult<R> | StoppedRun> {
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    const { cfg, name } = spec;
    const c = makeContext(cfg, spec.opts, name);
    const items = itemsOf(cfg.teacher.category);
    const { design } = spec;
    const defender = await withQuality(c.root, defenderUses(cfg.teacher.category, spec.defenses ?? cfg.filter.defenses), c.log);
    for (const u of defender) if (u.quality) c.log(`defender: ${defenderLine(u.quality, u, cfg.teacher.category)}`);
    c.emit({
        type: "run-start",
        run: name,
        sublabVersion: SUBLAB_VERSION,
        startedAt,
        config: cfg,
        target: cfg.teacher.target,
        items,
        ...(spec.start ?? {}),
        ...(defender.length ? { defender } : {}),
        ...(design.length ? { design } : {}),
    });
    for (const note of design) c.log(`design: ${note}`);
    const time = <T>(stage: TimedStage, fn: () => Promise<T> | T) => c.clock.time(stage, fn);
    const study: Study = {
        c,
        items,
        time,
        header: (description) => ({
            description,
            sublabVersion: SUBLAB_VERSION,
            startedAt,
            seconds: (performance.now() - t0) / 1000,
            experiment: cfg,
            target: cfg.teacher.target,
            ...(design.length ? { design } : {}),
            ...(defender.length ? { defender } : {}),
        }),
        teacher: async (cc = c) => {
            const t = await time("teacher", () => teacherStage(cc));
            checkInterrupted(c, "the teacher");
            return t;
        },
        evaluateBase: (cc = c) =>
            time("eval", () => evalStage(cc, { model: cc.cfg.models.base, lora: null }, { arm: "base", seed: null, dataset: null }, "base")),
        evaluateTeacher: (teacher, cc = c) => time("eval", () => evalStage(cc, teacher, { arm: "teacher", seed: null, dataset: null }, "teacher")),
    };
    const prepared = await spec.prepare(study);
    const out = await withWorkerPool(c, spec.students(prepared), () => spec.stages(study, prepared));
    if ("stopped" in out) return out.stopped;
    const seconds = (performance.now() - t0) / 1000;
    c.emit({ type: "run-end", seconds, timing: { ...c.clock.seconds } });
    const dir = path.join(c.root, "runs", name);
    const { results, files } = await time("report", async () => {
        const r = out.results();
        return { results: r, files: await spec.report.write(r, dir) };
    });
    return { results, dir, files, table: spec.report.table(results), timing: { ...c.clock.seconds }, seconds: (performance.now() - t0) / 1000 };
}

/** The design check of a study's families (skeleton's `design`), at the experiment's alpha. */
export function studyDesign(cfg: ExperimentConfig, families: Parameters<typeof designWarnings>[0]): string[] {
    return designWarnings(families, cfg.stats ?? DEFAULT_STATS);
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
