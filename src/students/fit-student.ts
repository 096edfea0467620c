/**
 * One student: tokenize its rows with the base's own chat template, attach soft labels (the data source's top
 * next-token probabilities) and loss masks, train (full or LoRA) from the base, save. `sublab run` and `sublab
 * sweep` call it in-process or in worker processes (students/pool.ts); the inputs are plain data, so a job can
 * cross a process boundary.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { getGgml } from "../engine/ggml.ts";
import { GGMLType } from "../engine/gguf.ts";
import type { LoraTarget } from "../engine/model-config.ts";
import { positionTopK } from "../engine/logits.ts";
import { loadModel } from "../engine/model.ts";
import { targetPositions, tokenizeTrainingRows } from "./training-data.ts";
import type { SparseSoftTargets } from "../engine/logits.ts";
import type { ScheduleKind } from "./schedule.ts";
import { fitAndSave } from "./fit-and-save.ts";
import { heldOutProbe, probeSteps } from "./probe.ts";
import { studentCompletions } from "./on-policy.ts";
import type { TrainExample } from "./trainer-types.ts";
import type { TrainRecipe, StudentRow, SoftSource, StudentJob, FitResult } from "../core/jobs.ts";
export type { TrainRecipe, StudentRow, SoftSource, StudentJob, FitResult };

/** Trains and saves one student; resumes from its checkpoint when one is there. */
export async function fitStudent(
    job: StudentJob,
    hooks: { signal?: AbortSignal; onStep?: (step: number, total: number, loss: number, probe?: number) => void } = {},
): Promise<FitResult> {
    const { base, rows, recipe: r, seed, dir, out, soft } = job;
    fs.mkdirSync(dir, { recursive: true });
    const t0 = performance.now();
    getGgml({ threads: job.threads });
    let examples = await tokenizeTrainingRows(base, r.system ? rows.map((x) => ({ system: r.system, ...x })) : rows);
    if (soft) examples = await attachSoftSources(examples, rows, soft, { mass: r.softMass ?? 1, k: r.softTopK ?? null });
    if (rows.some((x) => x.masked?.length))
        examples = applyLossMasks(
            examples,
            rows.map((x, k) => ({ i: x.i ?? k, masked: x.masked, targets: x.targets })),
        );
    const model = loadModel(base);
    // The held-out probe: the same tokenization and soft labels as the training rows, on rows it never trains on.
    let probeOf: ((m: typeof model) => number) | null = null;
    if (job.probe?.length) {
        let px = await tokenizeTrainingRows(base, r.system ? job.probe.map((x) => ({ system: r.system, ...x })) : job.probe);
        if (soft) px = await attachSoftSources(px, job.probe, soft, { mass: r.softMass ?? 1, k: r.softTopK ?? null });
        probeOf = heldOutProbe(px, model.config.vocabSize);
    }
    const probe: { step: number; kl: number }[] = probeOf ? [{ step: 0, kl: probeOf(model) }] : [];
    const onPolicy = job.onPolicy;
    if (onPolicy && !soft) throw new Error(`${job.label}: on-policy distillation needs the teacher's distributions (a soft-label source)`);
    const offPolicy = examples;
    if (onPolicy && offPolicy.length !== rows.length)
        throw new Error(`${job.label}: on-policy distillation: ${rows.length - offPolicy.length} of the ${rows.length} rows do not fit the student's context`);
    // On-policy: each epoch, the rows the student wrote replace their source's, labelled by that source.
    const epochExamples = onPolicy
        ? async (epoch: number) => {
              const written = await studentCompletions(model, base, rows, onPolicy, epoch, dir, r.system ?? null, hooks.signal);
              if (written.length === 0) return offPolicy;
              const own: StudentRow[] = written.map(({ i, completion }) => ({ prompt: rows[i]!.prompt, completion, i: rows[i]!.i, source: rows[i]!.source }));
              let ex = await tokenizeTrainingRows(base, r.system ? own.map((x) => ({ system: r.system, ...x })) : own);
              if (ex.length !== own.length)
                  throw new Error(`${job.label}: epoch ${epoch + 1}: ${own.length - ex.length} of the student's own rows do not fit its context`);
              ex = await attachSoftSources(ex, own, soft!, { mass: r.softMass ?? 1, k: r.softTopK ?? null });
              const out = [...offPolicy];
              written.forEach(({ i }, j) => (out[i] = ex[j]!));
              return out;
          }
        : undefined;
    let at: Set<number> | null = null;
    try {
        const result = await fitAndSave(model, examples, {
            lora: r.method === "lora" ? { rank: r.rank, alpha: r.alpha, targets: r.targets } : null,
            out,
            saveType: GGMLType.F16,
            mode: r.method,
            lr: r.lr,
            epochs: r.epochs,
            batchSize: r.batchSize,
            warmupSteps: r.warmupSteps,
            schedule: r.schedule,
            ...(r.optimizer === "sgd" ? { optimizer: "sgd" as const } : {}),
            seed,
            checkpointPath: path.join(dir, "checkpoint.gguf"),
            signal: hooks.signal,
            ...(epochExamples ? { epochExamples } : {}),
            onStep: (s) => {
                at ??= probeSteps(s.totalSteps);
                const kl = probeOf && at.has(s.step) ? probeOf(model) : undefined;
                if (kl !== undefined) probe.push({ step: s.step, kl });
                hooks.onStep?.(s.step, s.totalSteps, s.loss, kl);
            },
        });
        const summary = {
            firstLoss: result.losses[0] ?? NaN,
            finalLoss: result.losses.at(-1) ?? NaN,
            ...(probe.length > 1 ? { probe } : {}),
            seconds: (performance.now() - t0) / 1000,
        };
        return { ...summary, interrupted: result.interrupted };
    } finally {
        model.free();
    }
}

/** Soft labels from one source, or from several: each row's own (StudentRow.source), computed source by source. */
async function attachSoftSources(
    examples: TrainExample[],
    rows: readonly StudentRow[],
    soft: SoftSource | SoftSource[],
    keep: { mass: number; k: number | null },
): Promise<TrainExample[]> {
    if (!Array.isArray(soft)) return attachSoftLabels(examples, rows, soft, keep);
    const stray = rows.findIndex((r) => (r.source ?? 0) >= soft.length || (r.source ?? 0) < 0);
    if (stray >= 0) throw new Error(`soft labels: row ${stray} names source ${rows[stray]!.source}, but the job has ${soft.length}`);
    const out = [...examples];
    for (let src = 0; src < soft.length; src++) {
        const which = rows.flatMap((r, k) => ((r.source ?? 0) === src ? [k] : []));
        if (which.length === 0) continue;
        const got = await attachSoftLabels(
            which.map((k) => examples[k]!),
            which.map((k) => rows[k]!),
            soft[src]!,
            keep,
        );
        which.forEach((k, j) => (out[k] = got[j]!));
    }
    return out;
}

/**
 * Soft labels for distillation: the source model's full next-token distribution at every target position
 * of each row (the completion's tokens and its end of turn), computed by the engine with the source's own
 * prompt (its system prompt included), and attached to the student's examples (which have none).
 */
export async function attachSoftLabels(
    examples: TrainExample[],
    rows: readonly { prompt: string; completion: string }[],
    src: SoftSource,
    keep: { mass: number; k: number | null },
): Promise<TrainExample[]> {
    const key = softKey(rows, src, keep);
    let hit = softCache.get(key);
    if (!hit) {
        const teacherRows = rows.map((r) => (src.system ? { system: src.system, ...r } : r));
        const teacherEx = await tokenizeTrainingRows(src.model, teacherRows);
        const positions = teacherEx.map(targetPositions);
        const model = loadModel(src.model);
        try {
            if (src.lora) model.loadLora(src.lora);
            hit = {
                positions,
                targets: positionTopK(
                    model,
                    teacherEx.map((e) => e.tokens),
                    positions,
                    keep,
                ),
            };
        } finally {
            model.free();
        }
        softCache.set(key, hit);
        while (softCache.size > SOFT_CACHE_ENTRIES) softCache.delete(softCache.keys().next().value!);
    }
    const { positions, targets } = hit;
    return examples.map((e, i) => {
        const k = e.targetMask.reduce((a: number, m) => a + m, 0) - (e.targetMask[0] ? 1 : 0);
        if (k !== positions[i]!.length)
            throw new Error(`soft labels: row ${i} has ${k} target tokens for the student and ${positions[i]!.length} for the teacher`);
        return { ...e, softSparse: targets[i] };
    });
}

/**
 * Soft labels of the last few row sets, by source and rows: the students of two bases trained on one dataset's
 * rows (control and cross-control, treated and cross) distil the same distributions, computed once per process
 * (the worker pool hands such jobs to the same worker: see softKey).
 */
const softCache = new Map<string, { positions: number[][]; targets: SparseSoftTargets[] }>();
const SOFT_CACHE_ENTRIES = 2;

/** What identifies a set of soft labels: the source (its files by path and modification time), the rows, the truncation. */
export function softKey(rows: readonly { prompt: string; completion: string }[], src: SoftSource, keep: { mass: number; k: number | null }): string {
    const stamp = (f: string | null) => (f ? `${path.resolve(f)}@${fs.statSync(f).mtimeMs}` : null);
    const h = createHash("sha256").update(JSON.stringify([stamp(src.model), stamp(src.lora), src.system, keep]));
    for (const r of rows) h.update(`${r.prompt}\u0000${r.completion}\u0001`);
    return h.digest("hex").slice(0, 24);
}

/**
 * Loss masks of defended rows (`masked`: indices among a row's target tokens) applied to its training example:
 * those targets leave the loss (and their soft labels go with them).
 */
export function applyLossMasks(examples: TrainExample[], rows: readonly Pick<StudentRow, "i" | "masked" | "targets">[]): TrainExample[] {
    return examples.map((e, k) => {
        const row = rows[k]!;
        if (!row.masked || row.masked.length === 0) return e;
        const positions = targetPositions(e);
        if (row.targets !== positions.length) {
            throw new Error(`row ${row.i}: its loss mask was made for ${row.targets} target tokens, the student's tokenizer makes ${positions.length}`);
        }
        const drop = new Set(row.masked);
        const targetMask = Uint8Array.from(e.targetMask);
        for (const m of drop) targetMask[positions[m]! + 1] = 0;
        if (e.softSparse) {
            const { offsets, ids, probs } = e.softSparse;
            const keep = positions.map((_, j) => j).filter((j) => !drop.has(j));
            const next = { offsets: new Int32Array(keep.length + 1), ids: [] as number[], probs: [] as number[] };
            keep.forEach((j, w) => {
                for (let x = offsets[j]!; x < offsets[j + 1]!; x++) {
                    next.ids.push(ids[x]!);
                    next.probs.push(probs[x]!);
                }
                next.offsets[w + 1] = next.ids.length;
            });
            return { ...e, targetMask, softSparse: { offsets: next.offsets, ids: Int32Array.from(next.ids), probs: Float32Array.from(next.probs) } };
        }
        if (!e.soft) return { ...e, targetMask };
        const vocab = e.soft.length / positions.length;
        const soft = new Float32Array((positions.length - drop.size) * vocab);
        let w = 0;
        for (let j = 0; j < positions.length; j++) if (!drop.has(j)) soft.set(e.soft.subarray(j * vocab, (j + 1) * vocab), vocab * w++);
        return { ...e, targetMask, soft };
    });
}
