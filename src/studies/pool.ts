/**
 * Students trained (and models evaluated) side by side in worker processes, one compute thread each.
 *
 * Why processes: a tiny model's training step is a graph of many small ops, each ending in a thread barrier,
 * so two threads on one student go only ~1.45x faster than one (measured on the demo's students), while two
 * one-thread students on two cores go ~2x. ggml and node-llama-cpp are per process, so each worker is one.
 * Training is deterministic for a seed whatever the thread count, so a student is the same file either way.
 *
 * Workers are started once and take jobs one after another (starting one costs ~2 s of runtime setup). Ctrl-C
 * reaches the workers too: each stops at its next step with its checkpoint written, and the pool reports
 * the run interrupted once all have stopped.
 */
import { fork, type ChildProcess } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { softKey, type FitResult, type StudentJob } from "../students/fit-student.ts";
import type { EvalJob, EvalOutput } from "../evaluate/evaluate.ts";
import { type GenerateResult } from "../core/rows.ts";
import type { GenerateData } from "../core/jobs.ts";

export type { GenerateData };

/** The jobs a worker runs, by kind, and what each returns. */
export type Job = { kind: "student"; job: StudentJob } | { kind: "eval"; job: EvalJob } | { kind: "generate"; job: GenerateData };
type Output<K extends Job["kind"]> = K extends "student" ? FitResult : K extends "eval" ? EvalOutput : GenerateResult;

/** The messages between the pool and a worker. */
export type ToWorker = { type: "job"; id: number } & Job;
export type FromWorker =
    | { type: "ready" }
    | { type: "step"; id: number; step: number; total: number; loss: number; probe?: number }
    | { type: "done"; id: number; result: unknown }
    | { type: "error"; id: number; message: string; stack?: string };

export interface PoolOptions {
    /** Worker processes. Defaults to the available cores. */
    workers?: number;
    signal?: AbortSignal;
    /** Progress of every student's training (a job's own progress goes to the callback it was submitted with). */
    onStep?: (job: StudentJob, step: number, total: number, loss: number, probe?: number) => void;
}

interface Pending {
    job: Job;
    label: string;
    /** Jobs of one affinity go to the worker that ran the last of them when it is free (it holds their soft labels). */
    affinity?: string;
    /** This job's progress (generation: rows done). */
    onStep?: (step: number, total: number) => void;
    resolve: (r: unknown) => void;
    reject: (e: Error) => void;
}

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

/** How many workers a run uses by default: one per core, when there are several students to train. */
export function defaultWorkers(): number {
    const env = Number(process.env.SUBLAB_WORKERS);
    if (Number.isInteger(env) && env >= 1) return env;
    return Math.max(1, os.availableParallelism());
}

export class WorkerPool {
    private readonly size: number;
    private readonly queue: (Pending & { id: number })[] = [];
    private readonly idle: ChildProcess[] = [];
    private readonly running = new Map<number, Pending & { worker: ChildProcess }>();
    private readonly workers: ChildProcess[] = [];
    private readonly lastAffinity = new Map<ChildProcess, string>();
    private nextId = 0;
    private closed = false;
    /** Set when a worker could not start: no more are started, and every job fails with it. */
    private broken?: Error;

    constructor(private readonly opts: PoolOptions = {}) {
        this.size = Math.max(1, opts.workers ?? defaultWorkers());
    }

    /** Trains a student in a worker (queued until one is free). Resolves with its result, interrupted or not. */
    run(job: StudentJob): Promise<FitResult> {
        return this.submit(
            { kind: "student", job: { ...job, threads: 1 } },
            job.label,
            job.soft && !Array.isArray(job.soft) ? softKey(job.rows, job.soft, { mass: job.recipe.softMass ?? 1, k: job.recipe.softTopK ?? null }) : undefined,
        );
    }

    /** Generates a dataset's rows in a worker (written to job.out, resumable as in-process). */
    generate(job: GenerateData, label: string, onStep?: (done: number, total: number) => void): Promise<GenerateResult> {
        return this.submit({ kind: "generate", job: { ...job, threads: 1 } }, label, undefined, onStep);
    }

    /** Evaluates a model in a worker. */
    evaluate(job: EvalJob, label: string): Promise<EvalOutput> {
        return this.submit({ kind: "eval", job: { ...job, threads: 1 } }, label);
    }

    private submit<J extends Job>(job: J, label: string, affinity?: string, onStep?: (step: number, total: number) => void): Promise<Output<J["kind"]>> {
        if (this.closed) return Promise.reject(new Error("worker pool: closed"));
        if (this.broken) return Promise.reject(this.broken);
        return new Promise((resolve, reject) => {
            this.queue.push({ id: this.nextId++, job, label, affinity, onStep, resolve: resolve as (r: unknown) => void, reject });
            this.dispatch();
        });
    }

    /** Stops the workers: queued jobs are rejected, running ones end with their process. */
    async close(): Promise<void> {
        this.closed = true;
        for (const p of this.queue.splice(0)) p.reject(new Error("worker pool: closed"));
        await Promise.all(
            this.workers.map(
                (w) =>
                    new Promise<void>((res) => {
                        if (w.exitCode !== null || w.signalCode !== null) return res();
                        w.once("exit", () => res());
                        w.disconnect();
                    }),
            ),
        );
    }

    private dispatch(): void {
        if (this.opts.signal?.aborted) {
            // Jobs not started are not started: they report interrupted without having run.
            for (const p of this.queue.splice(0)) {
                if (p.job.kind === "student") p.resolve({ firstLoss: NaN, finalLoss: NaN, seconds: 0, interrupted: true } satisfies FitResult);
                else p.reject(new Error(`${p.label}: interrupted`));
            }
            return;
        }
        while (this.queue.length > 0) {
            let w = this.idle.pop();
            if (!w) {
                if (this.workers.length >= this.size) return;
                this.spawn();
                return; // dispatched again when it says it is ready
            }
            const last = this.lastAffinity.get(w);
            const k = Math.max(0, last === undefined ? 0 : this.queue.findIndex((q) => q.affinity === last));
            const [p] = this.queue.splice(k, 1) as [Pending & { id: number }];
            if (p.affinity) this.lastAffinity.set(w, p.affinity);
            this.running.set(p.id, { ...p, worker: w });
            w.send({ type: "job", id: p.id, ...p.job } satisfies ToWorker);
        }
    }

    private spawn(): void {
        let ready = false;
        const w = fork(WORKER, [], {
            // tsx from sublab's own node_modules, whatever folder the run is started in.
            execArgv: ["--import", import.meta.resolve("tsx")],
            env: { ...process.env, SUBLAB_THREADS: "1" },
            stdio: ["ignore", "inherit", "inherit", "ipc"],
        });
        this.workers.push(w);
        w.on("message", (m: FromWorker) => {
            if (m.type === "ready") {
                ready = true;
                this.idle.push(w);
                this.dispatch();
                return;
            }
            const p = this.running.get(m.id);
            if (!p) return;
            if (m.type === "step") {
                p.onStep?.(m.step, m.total);
                if (p.job.kind === "student") this.opts.onStep?.(p.job.job, m.step, m.total, m.loss, m.probe);
                return;
            }
            this.running.delete(m.id);
            if (m.type === "done") p.resolve(m.result);
            else p.reject(Object.assign(new Error(`${p.label}: ${m.message}`), m.stack ? { stack: `${p.label}: ${m.stack}` } : {}));
            this.idle.push(w);
            this.dispatch();
        });
        w.on("exit", (code, signal) => {
            const i = this.idle.indexOf(w);
            if (i >= 0) this.idle.splice(i, 1);
            const k = this.workers.indexOf(w);
            if (k >= 0) this.workers.splice(k, 1);
            for (const [id, p] of this.running) {
                if (p.worker !== w) continue;
                this.running.delete(id);
                p.reject(new Error(`${p.label}: the worker process exited (${signal ?? `code ${code}`}) during the job`));
            }
            if (!ready && !this.closed) {
                // It died before taking a job (it could not load): starting more would fail the same way.
                this.broken = new Error(
                    `a worker process (${WORKER}) exited before it started (${signal ?? `code ${code}`}); its error is printed above. --workers 1 trains in this process`,
                );
                for (const p of this.queue.splice(0)) p.reject(this.broken);
                return;
            }
            if (!this.closed) this.dispatch();
        });
    }
}
