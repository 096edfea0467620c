/**
 * `sublab run`: every stage of a subliminal-learning experiment, each cached under a key made of the content
 * hash of its inputs and its resolved configuration, so a finished stage is skipped and a changed
 * configuration reruns only the stages it changes.
 *
 *   teacher   base model + trait (a system prompt, or a short fine-tune on trait answers)
 *   generate  number continuations from the teacher and, paired (same prompts, same per-row seeds), from the
 *             base without the trait; datasets/<id>/raw.jsonl, resumable
 *   filter    the paper's format filter (+ banned numbers): kept.jsonl, rejected.jsonl with reasons, manifest
 *   train     students on equal-size subsamples: control (base on base numbers), treated (base on teacher
 *             numbers), cross (the other base on teacher numbers), cross-control (the other base on base numbers),
 *             one per training seed
 *   eval      exact P(target) and a sampled rate over the question paraphrases, for every student, both bases,
 *             the teacher, and the in-context arms (the numbers placed in the prompt as earlier turns)
 *   report    results.json, report.md, report.html in runs/<name>/, and a terminal table
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_ENDPOINT, generateHttp, type HttpEndpoint } from "../backends/http.ts";
import { onnxGenerate } from "../backends/onnx.ts";
import { BANNED_NUMBERS, formatRejectReasons } from "../filters/format.ts";
import { modelEnv } from "../filters/model-env.ts";
import { applyStages, countReasons, STAGES_VERSION, type StageReport, type TokenScores } from "../filters/stages.ts";
import { favoriteQuestion, numbersPrompt, personaPrompt } from "../prompts/corpus.ts";
import type { ChatPrompt } from "../runtime/llama.ts";
import { vocabModel, renderPrompt } from "../runtime/llama.ts";
import { applyLossMasks, fitStudent, type StudentJob } from "../students/fit.ts";
import { defaultWorkers, WorkerPool, type GenerateData } from "./pool.ts";
import { Interrupted } from "../util/interrupt.ts";
import { withLock } from "../util/lock.ts";
import { ProgressBar } from "../util/progress.ts";
import { readJsonl, writeJsonAtomic, writeJsonlAtomic } from "../util/files.ts";
import { Rng, subRng } from "../util/rng.ts";
import { scoreModel, type EvalJob } from "../evaluate/evaluate.ts";
import { generateRaw, pickBackend } from "../generate/generate.ts";
import { terminalTable, writeReport } from "../report/report.ts";
import { StageClock, type TimedStage } from "../core/timing.ts";
import { compareArms, summarizeArm } from "../stats/stats.ts";
import type { ArmName, ArmResult, ComparisonResult, ExperimentConfig, ModelEval, Results, ServerConfig } from "../core/types.ts";
import { type FilterRow, readRowsResumable, type GenerateResult, type RawRow } from "../core/rows.ts";
import { evalQuestions, itemsOf } from "../prompts/items.ts";

export const SUBLAB_VERSION = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version as string;

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
}

/**
 * A kept row of a dataset (a raw row that passed the filter). Rows of a defended dataset may have lost their
 * tokens and probabilities (a defense rewrote the text) or carry loss masks (src/filter/stages.ts).
 */
export type KeptRow = Pick<RawRow, "i" | "prompt" | "completion"> & Partial<Pick<RawRow, "tokens" | "probs">> & Pick<FilterRow, "masked" | "targets">;
export type RejectedRow = RawRow & { reasons: string[] };

export interface DatasetManifest {
    id: string;
    role: "teacher" | "control";
    generationKey: string;
    /** Shared by the generations that differ only in their number of prompts (see datasetStage). */
    generationFamily?: string;
    complete: boolean;
    model: { path: string; sha256: string };
    lora: { path: string; sha256: string } | null;
    /** Where the rows were generated when not by `model` locally (teacher.server); `model` then stands in for it. */
    server?: { url: string; model: string } | null;
    /** The ONNX folder that generated the rows (teacher.onnx); `model` stands in for it elsewhere. */
    onnx?: string | null;
    system: string | null;
    trait: { target: string; category: string } | null;
    seeds: { experiment: number; prompts: number; sampling: number };
    sampler: { method: "coupled" | "llama.cpp"; temperature: number; topK: 0; topP: 1; minP: 0; maxTokens: number; samplesPerPrompt: number; parallel: number };
    filter: ExperimentConfig["filter"];
    /** A defended dataset: the dataset its rows came from, and each defense stage's report. */
    parent?: string;
    stages?: StageReport[];
    rows: { raw: number; kept: number; rejected: number };
    passRate: number;
    rejectReasons: Record<string, number>;
    sublabVersion: string;
    createdAt: string;
}

export { Interrupted, applyLossMasks };

// ---- hashing and caching ----

const hashCache = new Map<string, string>();

/** sha256 of a file's contents (memoised by path, size and mtime). */
export function fileHash(file: string): string {
    const st = fs.statSync(file);
    const memo = `${path.resolve(file)}:${st.size}:${st.mtimeMs}`;
    let h = hashCache.get(memo);
    if (!h) {
        h = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
        hashCache.set(memo, h);
    }
    return h;
}

/** A stable hash of a JSON value (object keys sorted). */
export function hashJson(value: unknown): string {
    const canon = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(canon) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
    return crypto.createHash("sha256").update(JSON.stringify(canon(value))).digest("hex");
}

// ---- the stages ----

export interface Ctx {
    cfg: ExperimentConfig;
    root: string;
    opts: RunOptions;
    log: (msg: string) => void;
    /** A dataset's kept rows, read from disk once per run. */
    kept: (ds: DatasetManifest) => KeptRow[];
    /** Token scores of the model-backed defenses, shared by every defended dataset of the run (a sweep's arms score the same rows). */
    scores: Map<string, TokenScores>;
    /** Seconds per stage (results.json's timing, the table at the end of a run). */
    clock: StageClock;
    /** Worker processes that generate, train and evaluate side by side (absent: all in this process). */
    pool?: WorkerPool;
}

export interface Teacher {
    model: string;
    lora: string | null;
    system: string | null;
    description: string;
}

function checkModel(file: string, field: string): void {
    if (!fs.existsSync(file)) throw new Error(`${field}: no such model file ${file}`);
}

/** The trait system prompt (the configured one, or a persona sentence naming the target). */
export function traitSystemPrompt(cfg: ExperimentConfig): string {
    return cfg.teacher.systemPrompt ?? personaPrompt(subRng(cfg.seed, "persona"), cfg.teacher.category, cfg.teacher.target);
}

export async function teacherStage(c: Ctx): Promise<Teacher> {
    const { cfg } = c;
    const t = cfg.teacher;
    if (t.trait === "prompt") {
        const system = traitSystemPrompt(cfg);
        const where = t.server ? `${t.server.model} served at ${t.server.url} (the local base stands in for it in evaluations and model-backed defenses)` : "base";
        return { model: cfg.models.base, lora: null, system, description: `${where} with the system prompt "${system}"` };
    }
    const f = t.finetune;
    const key = hashJson({ stage: "teacher", base: fileHash(cfg.models.base), target: t.target, category: t.category, finetune: f, seed: cfg.seed }).slice(0, 16);
    const dir = path.join(c.root, "runs", "cache", "teachers", key);
    const out = path.join(dir, f.method === "lora" ? "adapter.gguf" : "teacher.gguf");
    const description = `base fine-tuned (${f.method}, ${f.rows} rows, ${f.epochs} epochs, lr ${f.lr}) to answer "${t.target}" to favourite-${t.category} questions`;
    const teacher = { model: f.method === "lora" ? cfg.models.base : out, lora: f.method === "lora" ? out : null, system: null, description };
    if (fs.existsSync(path.join(dir, "done.json"))) return teacher;
    c.log(`teacher: fine-tuning the base to love ${t.target} (${f.rows} rows)`);
    const rng = subRng(cfg.seed, "teacher-rows");
    const rows = Array.from({ length: f.rows }, () => ({ prompt: favoriteQuestion(rng, t.category), completion: t.target }));
    const recipe = { method: f.method, rank: f.rank, alpha: f.alpha, targets: cfg.student.targets, epochs: f.epochs, lr: f.lr, batchSize: cfg.student.batchSize, warmupSteps: 5, schedule: "linear" as const };
    await trainStudent(c, { base: cfg.models.base, rows, recipe, seed: cfg.seed, dir, out, label: "teacher" });
    writeJsonAtomic(path.join(dir, "done.json"), { description, createdAt: new Date().toISOString() });
    return teacher;
}

/** The number-continuation prompts of an experiment (the same for the teacher and the control). */
export function experimentPrompts(cfg: ExperimentConfig): string[] {
    const rng = subRng(cfg.seed, "number-prompts");
    return Array.from({ length: cfg.generate.prompts }, () => numbersPrompt(rng).prompt);
}

/** Generation through an OpenAI-compatible server (teacher.server), in the shape generateRaw returns. */
async function generateFromServer(c: Ctx, server: ServerConfig, system: string | null, prompts: string[], seed: number, out: string, onRow: (done: number) => void): Promise<{ rows: RawRow[]; resumed: number; generated: number; tokens: number; seconds: number; interrupted: boolean }> {
    const t0 = performance.now();
    const g = c.cfg.generate;
    const apiKey = server.apiKeyEnv ? process.env[server.apiKeyEnv] : null;
    if (server.apiKeyEnv && !apiKey) throw new Error(`teacher.server.apiKeyEnv: the environment variable ${server.apiKeyEnv} is not set`);
    const endpoint: HttpEndpoint = { ...DEFAULT_ENDPOINT, ...server, apiKey };
    const res = await generateHttp({ endpoint, system, prompts, samplesPerPrompt: g.samplesPerPrompt, temperature: g.temperature, maxTokens: g.maxTokens, seed, out, onRow, signal: c.opts.signal });
    if (res.retries) c.log(`generate: ${res.retries} requests to ${server.url} were retried`);
    return { rows: res.rows, resumed: res.rows.length - res.generated, generated: res.generated, tokens: res.rows.reduce((a, r) => a + r.probs.length, 0), seconds: (performance.now() - t0) / 1000, interrupted: res.interrupted };
}

/** Generation through an ONNX folder (teacher.onnx), in the shape generateRaw returns. */
async function generateFromOnnx(c: Ctx, dir: string, system: string | null, prompts: string[], seed: number, out: string, onRow: (done: number) => void): Promise<{ rows: RawRow[]; resumed: number; generated: number; tokens: number; seconds: number; interrupted: boolean }> {
    const t0 = performance.now();
    const g = c.cfg.generate;
    const before = readRowsResumable<RawRow>(out).length;
    const rows = await onnxGenerate({ dir, system, prompts, samplesPerPrompt: g.samplesPerPrompt, temperature: g.temperature, maxTokens: g.maxTokens, seed, out, onRow, signal: c.opts.signal });
    const made = rows.length - before;
    return { rows, resumed: before, generated: made, tokens: rows.reduce((a, r) => a + r.tokens.length, 0), seconds: (performance.now() - t0) / 1000, interrupted: rows.length < prompts.length * g.samplesPerPrompt };
}

/** A local GGUF's rows: in a worker when the run has a pool (the teacher's and the control's side by side), else here. */
async function generateLocally(c: Ctx, job: GenerateData, label: string, onRow: (done: number, total: number) => void): Promise<GenerateResult> {
    if (c.pool) {
        const res = await c.pool.generate(job, label, onRow);
        if (res.interrupted) throw new Interrupted(`generation of ${label}`);
        return res;
    }
    return generateRaw({ ...job, signal: c.opts.signal, onRow });
}

/** A dataset's manifest when its stage finished (a manifest marked complete), else null. */
function finishedDataset(manifestPath: string): DatasetManifest | null {
    if (!fs.existsSync(manifestPath)) return null;
    const m = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as DatasetManifest;
    return m.complete ? m : null;
}

export async function datasetStage(c: Ctx, role: "teacher" | "control", source: { model: string; lora: string | null; system: string | null }): Promise<DatasetManifest> {
    const { cfg } = c;
    const prompts = experimentPrompts(cfg);
    const g = cfg.generate;
    const sampler = { method: g.sampler, temperature: g.temperature, topK: 0 as const, topP: 1 as const, minP: 0 as const, maxTokens: g.maxTokens, samplesPerPrompt: g.samplesPerPrompt, parallel: g.parallel };
    const samplingSeed = subRng(cfg.seed, "sampling").nextU32();
    const server = cfg.teacher.server;
    const onnxDir = cfg.teacher.onnx;
    if (onnxDir && !fs.existsSync(path.join(onnxDir, "onnx", "model.onnx"))) throw new Error(`teacher.onnx: ${onnxDir} is not an ONNX folder (sublab export-onnx writes one)`);
    const backend = server || onnxDir ? null : pickBackend(source.model, g.backend);
    // On the engine a row does not depend on the rows decoded beside it: the batch size is not part of the key.
    const { parallel: _parallel, ...engineSampler } = sampler;
    const generation = {
        stage: "generate",
        model: server ? { url: server.url, model: server.model } : onnxDir ? { onnx: fileHash(path.join(onnxDir, "onnx", "model.onnx")) } : fileHash(source.model),
        lora: source.lora && fileHash(source.lora),
        system: source.system,
        sampler: backend === "engine" ? engineSampler : sampler,
        samplingSeed,
        backend: backend === "engine" ? "engine" : undefined,
    };
    const generationKey = hashJson({ ...generation, prompts: hashJson(prompts) });
    // Every generation of a family has the same row i (the prompt of index i comes from one seeded sequence, the
    // row's sampling seed from (seed, i)): only the number of prompts differs, so a larger run can start from a
    // smaller one's rows (and a smaller from a larger's).
    const generationFamily = hashJson({ ...generation, prompts: { seed: cfg.seed, generator: "numbersPrompt v1" } });
    const { defenses: _defenses, ...format } = cfg.filter;
    const id = `${role === "teacher" ? `${cfg.teacher.target}-teacher` : "control"}-${hashJson({ generationKey, filter: format }).slice(0, 12)}`;
    const dir = path.join(c.root, "datasets", id);
    const manifestPath = path.join(dir, "manifest.json");
    const done = finishedDataset(manifestPath);
    if (done) return done;
    // One writer per dataset folder: a second process waits for the first and then finds the dataset made.
    return withLock(dir, async () => {
        const made = finishedDataset(manifestPath);
        if (made) return made;
        fs.mkdirSync(dir, { recursive: true });
        const rawPath = path.join(dir, "raw.jsonl");
        // Another dataset of the same generation (only the filter differs) lends its raw rows; failing that, the
        // largest of the same family (only the number of prompts differs): generation then adds the missing rows.
        if (!fs.existsSync(rawPath)) {
            let lender: DatasetManifest | null = null;
            for (const other of fs.readdirSync(path.join(c.root, "datasets"))) {
                const mp = path.join(c.root, "datasets", other, "manifest.json");
                if (other === id || !fs.existsSync(mp)) continue;
                const m = JSON.parse(fs.readFileSync(mp, "utf8")) as DatasetManifest;
                if (!m.complete || m.parent) continue;
                if (m.generationKey === generationKey) {
                    lender = m;
                    break;
                }
                if (m.generationFamily === generationFamily && (!lender || m.rows.raw > lender.rows.raw)) lender = m;
            }
            if (lender) {
                fs.copyFileSync(path.join(c.root, "datasets", lender.id, "raw.jsonl"), rawPath);
                c.log(`generate ${id}: raw rows reused from ${lender.id}${lender.generationKey === generationKey ? "" : ` (${lender.rows.raw} rows of the same generation with a different number of prompts)`}`);
            }
        }
        const total = prompts.length * g.samplesPerPrompt;
        let bar: ProgressBar | undefined;
        const onRow = (done: number) => {
            if (c.opts.progress === false) return;
            bar ??= new ProgressBar({ total, label: `generate ${role}` });
            bar.update(done);
        };
        const res = await c.clock.time("generate", async () => server
            ? await generateFromServer(c, server, source.system, prompts, samplingSeed, rawPath, onRow)
            : onnxDir
              ? await generateFromOnnx(c, onnxDir, source.system, prompts, samplingSeed, rawPath, onRow)
              : await generateLocally(c, {
                model: source.model,
                lora: source.lora,
                system: source.system,
                prompts,
                samplesPerPrompt: g.samplesPerPrompt,
                temperature: g.temperature,
                maxTokens: g.maxTokens,
                parallel: g.parallel,
                sampler: g.sampler,
                backend: backend ?? undefined,
                seed: samplingSeed,
                out: rawPath,
              }, `generate ${role}`, onRow));
        bar?.finish();
        if (res.generated > 0) c.log(`generate ${id}: ${res.generated} rows, ${res.tokens} tokens in ${res.seconds.toFixed(0)} s (${(res.tokens / res.seconds).toFixed(0)} tok/s)${res.resumed ? `, ${res.resumed} resumed` : ""}`);
        if (res.interrupted) throw new Interrupted(`generation of ${id}`);

        // filter
        const banned = cfg.filter.banned === "paper" ? BANNED_NUMBERS : cfg.filter.banned === "none" ? undefined : cfg.filter.banned;
        const kept: KeptRow[] = [];
        const rejected: RejectedRow[] = [];
        const reasonCounts: Record<string, number> = {};
        for (const r of res.rows) {
            const reasons: string[] = r.stop === "length" ? ["no end of turn"] : formatRejectReasons(r.completion, { ...cfg.filter, banned });
            if (reasons.length === 0) kept.push({ i: r.i, prompt: r.prompt, completion: r.completion, tokens: r.tokens, probs: r.probs });
            else {
                rejected.push({ ...r, reasons });
                for (const x of reasons) reasonCounts[x] = (reasonCounts[x] ?? 0) + 1;
            }
        }
        writeJsonlAtomic(path.join(dir, "kept.jsonl"), kept);
        writeJsonlAtomic(path.join(dir, "rejected.jsonl"), rejected);
        const manifest: DatasetManifest = {
            id,
            role,
            generationKey,
            generationFamily,
            complete: true,
            model: { path: source.model, sha256: fileHash(source.model) },
            server: server ? { url: server.url, model: server.model } : null,
            onnx: onnxDir ? path.resolve(onnxDir) : null,
            lora: source.lora ? { path: source.lora, sha256: fileHash(source.lora) } : null,
            system: source.system,
            trait: role === "teacher" ? { target: cfg.teacher.target, category: cfg.teacher.category } : null,
            seeds: { experiment: cfg.seed, prompts: cfg.seed, sampling: samplingSeed },
            sampler,
            filter: { ...format, defenses: [] },
            rows: { raw: res.rows.length, kept: kept.length, rejected: rejected.length },
            passRate: kept.length / Math.max(1, res.rows.length),
            rejectReasons: reasonCounts,
            sublabVersion: SUBLAB_VERSION,
            createdAt: new Date().toISOString(),
        };
        writeJsonAtomic(manifestPath, manifest);
        c.log(`filter ${id}: kept ${kept.length}/${res.rows.length} (${(100 * manifest.passRate).toFixed(1)}%)`);
        return manifest;
    }, { signal: c.opts.signal, onWait: (h) => c.log(`generate: pid ${h.pid} is making ${dir} (since ${h.since}); waiting for it`) });
}

/**
 * A defended dataset: the filter and defense stages of `defenses` applied, in order, to a dataset's kept rows
 * (datasets/<parent>-d<hash>/ with kept.jsonl, rejected.jsonl naming the stage and reasons, and a manifest
 * with each stage's pass rate). The model-backed stages score with the dataset's own source as the teacher
 * and `models.base` as the base; the random stages use one seed for every dataset, so the teacher's and the
 * control's rows are shuffled alike.
 */
export async function defendStage(c: Ctx, ds: DatasetManifest, defenses: readonly string[]): Promise<DatasetManifest> {
    if (defenses.length === 0) return ds;
    const { cfg } = c;
    const seed = subRng(cfg.seed, "defenses").nextU32();
    const id = `${ds.id}-d${hashJson({ parent: ds.id, defenses, base: fileHash(cfg.models.base), seed, version: STAGES_VERSION }).slice(0, 8)}`;
    const dir = path.join(c.root, "datasets", id);
    const manifestPath = path.join(dir, "manifest.json");
    const done = finishedDataset(manifestPath);
    if (done) return done;
    // One writer per dataset folder: a second process waits for the first and then finds the dataset made.
    return withLock(dir, async () => {
        const made = finishedDataset(manifestPath);
        if (made) return made;
        fs.mkdirSync(dir, { recursive: true });
        c.log(`defend ${ds.id}: ${defenses.join(" -> ")}`);
        const source = { model: ds.model.path, lora: ds.lora?.path ?? null, system: ds.system };
        const env = modelEnv({ teacher: source, base: cfg.models.base, seed, target: cfg.teacher.target, workDir: dir, threads: c.opts.threads, log: c.log, memo: c.scores, progress: c.opts.progress !== false, signal: c.opts.signal });
        const res = await applyStages(c.kept(ds), defenses, env);
        writeJsonlAtomic(path.join(dir, "kept.jsonl"), res.kept);
        writeJsonlAtomic(path.join(dir, "rejected.jsonl"), res.rejected.map((r) => ({ ...r.row, stage: r.stage, reasons: r.reasons })));
        const reasons = { ...ds.rejectReasons };
        for (const [k, n] of Object.entries(countReasons(res.rejected))) reasons[k] = (reasons[k] ?? 0) + n;
        const manifest: DatasetManifest = {
            ...ds,
            id,
            filter: { ...ds.filter, defenses: [...defenses] },
            parent: ds.id,
            stages: res.reports,
            rows: { raw: ds.rows.raw, kept: res.kept.length, rejected: ds.rows.rejected + res.rejected.length },
            passRate: res.kept.length / Math.max(1, ds.rows.raw),
            rejectReasons: reasons,
            sublabVersion: SUBLAB_VERSION,
            createdAt: new Date().toISOString(),
        };
        writeJsonAtomic(manifestPath, manifest);
        c.log(`defend ${id}: kept ${res.kept.length}/${ds.rows.kept} of the format filter's rows (${(100 * manifest.passRate).toFixed(1)}% of the raw rows)`);
        return manifest;
    }, { signal: c.opts.signal, onWait: (h) => c.log(`defend: pid ${h.pid} is making ${dir} (since ${h.since}); waiting for it`) });
}

/**
 * Runs `fn` with a pool of workers in `c.pool` (generation, students, evaluations) when more than one worker is
 * asked for and there are several students; one progress bar then follows all the students in training.
 */
export async function withWorkerPool<T>(c: Ctx, students: number, fn: () => Promise<T>): Promise<T> {
    const workers = c.opts.workers ?? defaultWorkers();
    if (workers <= 1 || students <= 1 || c.pool) return fn();
    const progress = new Map<string, number>();
    let bar: ProgressBar | undefined;
    const pool = new WorkerPool({
        workers: Math.min(workers, students),
        signal: c.opts.signal,
        onStep: (job, step, total, loss) => {
            if (c.opts.progress === false) return;
            progress.set(job.label, step / total);
            bar ??= new ProgressBar({ total: students * 100, label: `students (${Math.min(workers, students)} workers)` });
            let sum = 0;
            for (const f of progress.values()) sum += f;
            bar.update(Math.round(sum * 100), { [job.label]: loss.toFixed(3) });
        },
    });
    c.pool = pool;
    try {
        return await fn();
    } finally {
        c.pool = undefined;
        bar?.finish();
        await pool.close();
    }
}

/** `stage` over every spec: side by side when a pool trains the students, one after another when not. */
export async function eachJob<S, T>(c: Ctx, specs: readonly S[], stage: (spec: S) => Promise<T>): Promise<T[]> {
    if (c.pool) return Promise.all(specs.map(stage));
    const out: T[] = [];
    for (const spec of specs) out.push(await stage(spec));
    return out;
}

/**
 * Trains one student: in a worker when the run has a pool (whose bar follows all students), else in this process
 * with a bar of its own. An interrupted training throws Interrupted (its checkpoint is kept).
 */
async function trainStudent(c: Ctx, job: StudentJob): Promise<{ firstLoss: number; finalLoss: number; seconds: number }> {
    let bar: ProgressBar | undefined;
    const r = c.pool ? await c.pool.run(job) : await fitStudent(
        { threads: c.opts.threads, ...job },
        {
            signal: c.opts.signal,
            onStep: (step, total, loss) => {
                if (c.opts.progress === false) return;
                bar ??= new ProgressBar({ total, label: job.label });
                bar.update(step, { loss: loss.toFixed(3) });
            },
        },
    );
    bar?.finish();
    if (r.interrupted) throw new Interrupted(`training of ${job.label}`);
    return r;
}

/**
 * A pool in the order seeds take their shares from: shuffled once, then cut into disjoint slices of n (seed s
 * takes slice s), so that the seeds are independent replications of the data as well as of the training (a
 * test over seeds then speaks about the procedure, not about one sampled dataset).
 */
function seedOrder<T>(pool: readonly T[], seed: number): T[] {
    return new Rng(seed).shuffle([...pool]);
}

/** Seed s's disjoint share of a dataset's kept rows; `field` names the setting that asked for n rows. */
function subsample(kept: KeptRow[], n: number, s: number, seeds: number, seed: number, what: string, field: string): KeptRow[] {
    if (kept.length < n * seeds) {
        throw new Error(`${what} has ${kept.length} kept rows, fewer than student.seeds x ${field} = ${seeds} x ${n}: generate more (generate.prompts) or use fewer`);
    }
    return seedOrder(kept, seed).slice(s * n, (s + 1) * n);
}

export interface StudentRef {
    arm: ArmName;
    seed: number;
    base: string;
    dataset: DatasetManifest;
    model: string;
    lora: string | null;
}

/**
 * The prompt indices the students train on, when subsamples are paired: the indices whose rows passed the
 * filter in every dataset, in seed order (seed s trains on slice s), so that all arms of a seed see the same
 * prompts.
 */
export function pairedOrder(c: Ctx, datasets: DatasetManifest[]): number[] | null {
    if (!c.cfg.student.paired) return null;
    const sets = datasets.map((d) => new Set(c.kept(d).map((r) => r.i)));
    const common = [...sets[0]!].filter((i) => sets.every((x) => x.has(i))).sort((a, b) => a - b);
    const n = c.cfg.student.rows;
    if (common.length < n * c.cfg.student.seeds) {
        throw new Error(
            `student.rows: ${c.cfg.student.seeds} seeds x ${n} paired rows asked, but only ${common.length} prompts have a kept row in both datasets: ` +
                `generate more (generate.prompts), train on fewer rows or seeds, or set student.paired to false`,
        );
    }
    return seedOrder(common, subRng(c.cfg.seed, "subsample").nextU32());
}

/** Trains (or finds cached) the student of one arm and seed; `label` names it in progress lines (default: the arm). */
export async function studentStage(c: Ctx, arm: ArmName, base: string, ds: DatasetManifest, s: number, indices: number[] | null, label: string = arm): Promise<StudentRef> {
    const st = c.cfg.student;
    const trainSeed = subRng(c.cfg.seed, `student-${s}`).nextU32();
    const kept = c.kept(ds);
    let rows: KeptRow[];
    if (indices) {
        const byIndex = new Map(kept.map((r) => [r.i, r]));
        rows = indices.map((i) => byIndex.get(i)!);
    } else rows = subsample(kept, st.rows, s, st.seeds, subRng(c.cfg.seed, "subsample").nextU32(), `dataset ${ds.id}`, "student.rows");
    const soft = st.labels === "soft" ? { model: ds.model.path, lora: ds.lora?.path ?? null, system: ds.system } : undefined;
    // Content-addressed: two datasets that hand a student the same rows (a defense that removed nothing) share it.
    const key = hashJson({
        stage: "student",
        base: fileHash(base),
        rows: hashJson(rows.map((r) => [r.prompt, r.completion, r.masked ?? null])),
        soft: soft && { model: fileHash(soft.model), lora: soft.lora && fileHash(soft.lora), system: soft.system },
        recipe: st,
        trainSeed,
    }).slice(0, 16);
    const dir = path.join(c.root, "runs", "cache", "students", key);
    const out = path.join(dir, st.method === "lora" ? "adapter.gguf" : "model.gguf");
    const ref: StudentRef = { arm, seed: s, base, dataset: ds, model: st.method === "lora" ? base : out, lora: st.method === "lora" ? out : null };
    if (fs.existsSync(path.join(dir, "done.json"))) return ref;
    const job: StudentJob = { base, rows: rows.map(({ prompt, completion, i, masked, targets }) => ({ prompt, completion, i, masked, targets })), recipe: st, seed: trainSeed, dir, out, label: `${label} #${s + 1}`, soft };
    // One writer per student folder (two processes on one experiment would write one checkpoint file).
    return withLock(
        dir,
        async () => {
            if (fs.existsSync(path.join(dir, "done.json"))) return ref;
            const r = await trainStudent(c, job);
            writeJsonAtomic(path.join(dir, "done.json"), { arm, seed: s, dataset: ds.id, base, rows: rows.length, ...r });
            c.log(`train ${label} seed ${s + 1}: loss ${r.firstLoss.toFixed(3)} -> ${r.finalLoss.toFixed(3)}, ${r.seconds.toFixed(0)} s`);
            return ref;
        },
        { signal: c.opts.signal, onWait: (h) => c.log(`train ${label} seed ${s + 1}: pid ${h.pid} is training it (since ${h.since}); waiting for it`) },
    );
}

/** Earlier turns for the in-context arm: kept rows of a dataset, as many as fit the context beside the longest question. */
async function inContextHistory(c: Ctx, ds: DatasetManifest, s: number, questions: string[]): Promise<ChatPrompt["history"]> {
    const k = c.cfg.eval.inContextExamples;
    const rows = subsample(c.kept(ds), k, s, c.cfg.student.seeds, subRng(c.cfg.seed, "in-context").nextU32(), `dataset ${ds.id}`, "eval.inContextExamples");
    const history = rows.map((r) => ({ user: r.prompt, assistant: r.completion }));
    const vocab = await vocabModel(c.cfg.models.base);
    const limit = vocab.trainContextSize || 512;
    const longest = questions.reduce((a, q) => (q.length > a.length ? q : a), "");
    const len = renderPrompt(vocab, { history, user: longest }).length + 8;
    if (len > limit) {
        throw new Error(
            `eval.inContextExamples: ${history.length} examples make a ${len}-token prompt, longer than the model's context (${limit} tokens); use fewer`,
        );
    }
    return history;
}

export async function evalStage(c: Ctx, what: { model: string; lora: string | null; system?: string | null; history?: ChatPrompt["history"] }, label: string): Promise<Omit<ModelEval, "seed" | "dataset">> {
    const { cfg } = c;
    const e = cfg.eval;
    const items = itemsOf(cfg.teacher.category);
    const questions = evalQuestions(cfg.teacher.category, e.questions);
    const key = hashJson({
        stage: "eval",
        model: fileHash(what.model),
        lora: what.lora && fileHash(what.lora),
        system: what.system ?? null,
        history: what.history ?? [],
        questions,
        items,
        target: cfg.teacher.target,
        eval: e,
        seed: cfg.seed,
    }).slice(0, 16);
    const file = path.join(c.root, "runs", "cache", "evals", `${key}.json`);
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8"));
    const prompts: ChatPrompt[] = questions.map((q) => ({ system: what.system ?? null, history: what.history, user: q }));
    const job: EvalJob = { model: what.model, lora: what.lora, prompts, items, target: cfg.teacher.target, samples: e.samplesPerQuestion, temperature: e.temperature, seed: subRng(cfg.seed, "eval-sampling").nextU32() };
    const { probs, sampled } = c.pool ? await c.pool.evaluate(job, label) : await scoreModel(job);
    const t = items.indexOf(cfg.teacher.target);
    const perQuestion = probs.map((row) => row[t]!);
    const result = {
        model: what.model,
        lora: what.lora,
        perQuestion,
        targetProb: perQuestion.reduce((a, b) => a + b, 0) / perQuestion.length,
        sampled: { hits: sampled.hits, n: sampled.n },
        distribution: items.map((_, k) => probs.reduce((a, row) => a + row[k]!, 0) / probs.length),
    };
    writeJsonAtomic(file, result);
    c.log(`eval ${label}: P(${cfg.teacher.target}) ${result.targetProb.toFixed(4)}, sampled ${sampled.hits}/${sampled.n}`);
    return result;
}

export const ARM_DESCRIPTIONS: Record<Exclude<ArmName, `imported:${string}`>, string> = {
    base: "the base model, untouched",
    teacher: "the teacher (base + trait): where the numbers come from",
    control: "base fine-tuned on numbers from the base without the trait",
    treated: "base fine-tuned on the teacher's numbers",
    cross: "the other base (different initialisation) fine-tuned on the teacher's numbers",
    "cross-control": "the other base fine-tuned on numbers from the base without the trait",
    "in-context": "base with teacher numbers as earlier chat turns, no training",
    "in-context-control": "base with control numbers as earlier chat turns, no training",
};

export interface RunResult {
    stopped?: undefined;
    results: Results;
    dir: string;
    files: { json: string; md: string; html: string };
    table: string;
    /** Seconds per stage of this call (cached stages cost ~0), and in all. */
    timing: Record<TimedStage, number>;
    seconds: number;
}

export interface StoppedRun {
    stopped: NonNullable<RunOptions["stopAfter"]>;
    datasets: Results["datasets"];
}

export const datasetSummary = (d: DatasetManifest): Results["datasets"][number] => ({ id: d.id, role: d.role, raw: d.rows.raw, kept: d.rows.kept, passRate: d.passRate, rejectReasons: d.rejectReasons });

/** The shared state of a run's stages (the experiment, where its files go, a log, the kept rows read once); checks the models exist. */
export function makeContext(cfg: ExperimentConfig, opts: RunOptions): Ctx {
    const root = path.resolve(opts.root ?? ".");
    const log = (msg: string) => {
        if (opts.progress !== false) process.stderr.write(`${msg}\n`);
    };
    const keptCache = new Map<string, KeptRow[]>();
    const kept = (ds: DatasetManifest) => {
        let rows = keptCache.get(ds.id);
        if (!rows) keptCache.set(ds.id, (rows = readJsonl<KeptRow>(path.join(root, "datasets", ds.id, "kept.jsonl"))));
        return rows;
    };
    checkModel(cfg.models.base, "models.base");
    checkModel(cfg.models.cross, "models.cross");
    if (fileHash(cfg.models.base) === fileHash(cfg.models.cross)) throw new Error("models.cross: the same file as models.base; the cross-model arm needs a base from another initialisation");
    fs.mkdirSync(path.join(root, "datasets"), { recursive: true });
    return { cfg, root, opts, log, kept, scores: new Map(), clock: new StageClock() };
}

/** Runs (or resumes) every stage of an experiment and writes its report to runs/<name>/. */
export async function runExperiment(cfg: ExperimentConfig, opts: RunOptions = {}): Promise<RunResult | StoppedRun> {
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    const c = makeContext(cfg, opts);
    const { root } = c;
    const check = (stage: string) => {
        if (opts.signal?.aborted) throw new Interrupted(stage);
    };

    const clock = c.clock;
    const teacher = await clock.time("teacher", () => teacherStage(c));
    check("the teacher");
    // Generation, students and evaluations share one pool of workers (when there is more than one core): the
    // teacher's and the control's rows are generated side by side, then the students trained, then evaluated.
    const evals = new Map<ArmName, ModelEval[]>();
    const done = await withWorkerPool(c, cfg.student.seeds * 4, async () => {
        const sources: ["teacher" | "control", Teacher | { model: string; lora: null; system: null }][] = [["teacher", teacher], ["control", { model: cfg.models.base, lora: null, system: null }]];
        const formatted = await clock.time("filter", () => eachJob(c, sources, ([role, src]) => datasetStage(c, role, src)));
        const [teacherDs, controlDs] = await clock.time("filter", async () => [await defendStage(c, formatted[0]!, cfg.filter.defenses), await defendStage(c, formatted[1]!, cfg.filter.defenses)] as const);
        const datasets = [...new Set([...formatted, teacherDs, controlDs])].map(datasetSummary);
        if (opts.stopAfter === "data") return { stopped: "data" as const, datasets };

        const order = pairedOrder(c, [teacherDs, controlDs]);
        const specs: [ArmName, string, DatasetManifest, number, number[] | null][] = [];
        for (let s = 0; s < cfg.student.seeds; s++) {
            const n = cfg.student.rows;
            const indices = order && order.slice(s * n, (s + 1) * n);
            specs.push(["control", cfg.models.base, controlDs, s, indices], ["treated", cfg.models.base, teacherDs, s, indices], ["cross-control", cfg.models.cross, controlDs, s, indices], ["cross", cfg.models.cross, teacherDs, s, indices]);
        }
        check("training");
        const questions = evalQuestions(cfg.teacher.category, cfg.eval.questions);
        const students = await clock.time("students", () => eachJob(c, specs, ([arm, base, ds, s, indices]) => studentStage(c, arm, base, ds, s, indices)));
        if (opts.stopAfter === "train") return { stopped: "train" as const, datasets };
        await clock.time("eval", async () => {
            type What = Parameters<typeof evalStage>[1];
            const todo: { arm: ArmName; seed: number | null; dataset: string | null; what: What; label: string }[] = [
                { arm: "base", seed: null, dataset: null, what: { model: cfg.models.base, lora: null }, label: "base" },
                { arm: "teacher", seed: null, dataset: null, what: teacher, label: "teacher" },
                ...students.map((st) => ({ arm: st.arm, seed: st.seed, dataset: st.dataset.id, what: st, label: `${st.arm} seed ${st.seed + 1}` })),
            ];
            if (cfg.eval.inContextExamples > 0) {
                for (let s = 0; s < cfg.student.seeds; s++) {
                    for (const [arm, ds] of [["in-context", teacherDs], ["in-context-control", controlDs]] as const) {
                        const history = await inContextHistory(c, ds, s, questions);
                        todo.push({ arm, seed: s, dataset: ds.id, what: { model: cfg.models.base, lora: null, history }, label: `${arm} seed ${s + 1}` });
                    }
                }
            }
            for (const imp of cfg.eval.imported) {
                imp.students.forEach((st, k) => {
                    for (const [f, field] of [[st.model, "model"], [st.lora, "lora"]] as const) if (f) checkModel(f, `eval.imported (${imp.name}) students[${k}].${field}`);
                    todo.push({ arm: `imported:${imp.name}`, seed: k, dataset: null, what: { model: st.model ?? cfg.models.base, lora: st.lora }, label: `imported ${imp.name} #${k + 1}` });
                });
            }
            check("evaluation");
            const scored = await eachJob(c, todo, (x) => evalStage(c, x.what, x.label));
            todo.forEach((x, k) => evals.set(x.arm, [...(evals.get(x.arm) ?? []), { seed: x.seed, dataset: x.dataset, ...scored[k]! }]));
        });
        return { stopped: undefined, datasets };
    });
    if (done.stopped) return done;
    const datasets = done.datasets;
    if (opts.stopAfter === "eval") return { stopped: "eval", datasets };
    const tReport = performance.now();
    const rng = subRng(cfg.seed, "statistics");
    const describe = (arm: ArmName) => {
        const imp = cfg.eval.imported.find((x) => `imported:${x.name}` === arm);
        return imp ? imp.description || `students trained elsewhere and imported (${imp.students.length})` : ARM_DESCRIPTIONS[arm as Exclude<ArmName, `imported:${string}`>];
    };
    const arms: ArmResult[] = [...evals].map(([arm, es]) => ({ arm, description: describe(arm), evals: es, ...summarizeArm(es, rng) }));
    const items = itemsOf(cfg.teacher.category);
    const t = items.indexOf(cfg.teacher.target);
    const comparisons: ComparisonResult[] = [];
    for (const [a, b] of [["treated", "control"], ["cross", "cross-control"], ["in-context", "in-context-control"], ["control", "base"]] as const) {
        if (evals.has(a) && evals.has(b)) comparisons.push({ name: `${a} vs ${b}`, a, b, ...compareArms(evals.get(a)!, evals.get(b)!, t, rng) });
    }
    for (const imp of cfg.eval.imported) {
        const a: ArmName = `imported:${imp.name}`;
        comparisons.push({ name: `${a} vs ${imp.compareTo}`, a, b: imp.compareTo, ...compareArms(evals.get(a)!, evals.get(imp.compareTo)!, t, rng) });
    }
    const results: Results = {
        experiment: cfg.name,
        sublabVersion: SUBLAB_VERSION,
        startedAt,
        seconds: (performance.now() - t0) / 1000,
        config: cfg,
        target: cfg.teacher.target,
        items,
        datasets,
        arms,
        comparisons,
        timing: {},
    };
    // results.json holds the report stage up to its own writing.
    clock.add("report", (performance.now() - tReport) / 1000);
    results.timing = { ...clock.seconds };
    const dir = path.join(root, "runs", cfg.name);
    const files = await clock.time("report", () => writeReport(results, dir));
    return { results, dir, files, table: terminalTable(results), timing: { ...clock.seconds }, seconds: (performance.now() - t0) / 1000 };
}
