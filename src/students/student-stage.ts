/**
 * The student stage: one student of one arm and seed, trained on its share of a dataset's kept rows (soft or
 * sampled labels) and cached under runs/cache/students/<key>/, key = base file hash + the rows' text + the
 * soft-label source + the recipe + the training seed (two datasets that hand a student the same rows share it).
 */
import fs from "node:fs";
import path from "node:path";
import { cachedPath, fileHash, hashJson } from "../core/cache.ts";
import { cached, type StageContext } from "../core/context.ts";
import type { SoftSource, StudentJob } from "../core/jobs.ts";
import type { ChainPlace } from "../core/events.ts";
import type { KeptRow } from "../core/rows.ts";
import type { DatasetManifest } from "../core/types.ts";
import type { ArmName } from "../core/results.ts";
import { writeJsonAtomic } from "../util/files.ts";
import { Rng, subRng } from "../util/rng.ts";

export interface StudentRef {
    arm: ArmName;
    seed: number;
    base: string;
    dataset: DatasetManifest;
    model: string;
    lora: string | null;
    /** Seconds its training took when it was made (a cached student's recorded time). */
    seconds?: number;
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
export function subsample(kept: KeptRow[], n: number, s: number, seeds: number, seed: number, what: string, field: string): KeptRow[] {
    if (kept.length < n * seeds) {
        throw new Error(
            `${what} has ${kept.length} kept rows, fewer than student.seeds x ${field} = ${seeds} x ${n}: generate more (generate.prompts) or use fewer`,
        );
    }
    return seedOrder(kept, seed).slice(s * n, (s + 1) * n);
}

/**
 * The prompt indices the students train on, when subsamples are paired: the indices whose rows passed the
 * filter in every dataset, in seed order (seed s trains on slice s), so that all arms of a seed see the same
 * prompts.
 */
export function pairedOrder(c: StageContext, datasets: DatasetManifest[]): number[] | null {
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

/** Seed s's slice of a paired order (null: unpaired, each dataset subsampled on its own). */
export const seedSlice = (order: number[] | null, s: number, n: number) => order && order.slice(s * n, (s + 1) * n);

/** Seed s's rows of a dataset: those of the paired prompt indices, or (unpaired) its own disjoint subsample. */
export function seedRows(c: StageContext, ds: DatasetManifest, s: number, indices: number[] | null): KeptRow[] {
    const st = c.cfg.student;
    const kept = c.kept(ds);
    if (!indices) return subsample(kept, st.rows, s, st.seeds, subRng(c.cfg.seed, "subsample").nextU32(), `dataset ${ds.id}`, "student.rows");
    const byIndex = new Map(kept.map((r) => [r.i, r]));
    return indices.map((i) => byIndex.get(i)!);
}

/**
 * Trains (or finds cached) the student of one arm and seed; `label` names it in progress lines (default: the arm).
 * With student.mix, a student of the teacher's data (`ds` other than `control`) trains on a dose of it: mixedParts.
 */
export async function studentStage(
    c: StageContext,
    arm: ArmName,
    base: string,
    ds: DatasetManifest,
    s: number,
    indices: number[] | null,
    label: string = arm,
    control?: DatasetManifest,
): Promise<StudentRef> {
    const mix = c.cfg.student.mix;
    const parts =
        mix !== undefined && control && control.id !== ds.id && indices
            ? mixedParts(c, ds, control, s, indices, mix)
            : [{ ds, rows: seedRows(c, ds, s, indices) }];
    return trainStudent(c, { arm, base, dataset: ds, s, label, parts });
}

/**
 * A dose of the teacher's data: of seed s's paired prompts, round(f x n) (a seeded choice, nested as f grows)
 * with the teacher's rows and the others with the control's rows for the same prompts. At f = 0 the student is
 * the control student (the same rows, labels and seed: one cache entry); at f = 1 the unmixed treated one.
 */
export function mixedParts(
    c: StageContext,
    teacher: DatasetManifest,
    control: DatasetManifest,
    s: number,
    indices: number[],
    f: number,
): { ds: DatasetManifest; rows: KeptRow[] }[] {
    const k = Math.round(f * indices.length);
    const dosed = new Set(new Rng(subRng(c.cfg.seed, `mix-${s}`).nextU32()).shuffle([...indices]).slice(0, k));
    return [
        {
            ds: control,
            rows: seedRows(
                c,
                control,
                s,
                indices.filter((i) => !dosed.has(i)),
            ),
        },
        {
            ds: teacher,
            rows: seedRows(
                c,
                teacher,
                s,
                indices.filter((i) => dosed.has(i)),
            ),
        },
    ].filter((p) => p.rows.length > 0);
}

/** A student to train: its base and its rows, in parts, each from one dataset (whose source gives its soft labels). */
export interface StudentSpec {
    arm: ArmName;
    base: string;
    /** The dataset the student is filed under (events, results): its last part's, usually. */
    dataset: DatasetManifest;
    s: number;
    label: string;
    parts: { ds: DatasetManifest; rows: KeptRow[] }[];
    /** Training seed (default: the experiment's seed s). */
    trainSeed?: number;
    /** A chain's student: where it sits (its events carry it). */
    chain?: ChainPlace;
}

/** Rows of a student's probe (src/students/probe.ts): the 8 kept rows of its last part's dataset with the lowest prompt indices among those it does not train on. */
const PROBE_ROWS = 8;
function probeRows(c: StageContext, spec: StudentSpec): KeptRow[] {
    const own = new Set(spec.parts.flatMap((p) => p.rows.map((r) => r.i)));
    const last = spec.parts.at(-1)!.ds;
    return c
        .kept(last)
        .filter((r) => !own.has(r.i))
        .sort((a, b) => a.i - b.i)
        .slice(0, PROBE_ROWS);
}

/** The dataset's generator, found in this checkout (a cache copied from elsewhere keeps the paths it was made with). */
function softSource(root: string, ds: DatasetManifest): SoftSource {
    const find = (f: { path: string }) => cachedPath(f.path, root) ?? f.path;
    return { model: find(ds.model), lora: ds.lora ? find(ds.lora) : null, system: ds.system };
}

/** A loss or KL for the log: numbers crossed from a worker as JSON, where a NaN (no step run) arrives as null. */
export const fmtLoss = (x: number | null) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "-");

/**
 * Trains (or finds cached) one student on its rows, cached under runs/cache/students/<key>/; a student of one
 * part keeps the key it had before students could have several.
 */
export async function trainStudent(c: StageContext, spec: StudentSpec): Promise<StudentRef> {
    const st = c.cfg.student;
    const { arm, base, dataset: ds, s, label } = spec;
    const trainSeed = spec.trainSeed ?? subRng(c.cfg.seed, `student-${s}`).nextU32();
    const rows = spec.parts.flatMap((p) => p.rows);
    const sources = spec.parts.map((p) => softSource(c.root, p.ds));
    const soft = st.labels === "sampled" ? undefined : sources.length === 1 ? sources[0]! : sources;
    // On-policy: the student writes its own rows each epoch, sampled as the teacher's were (students/on-policy.ts).
    const onPolicy =
        st.labels === "on-policy"
            ? { fraction: st.onPolicyFraction ?? 1, temperature: c.cfg.generate.temperature, maxTokens: c.cfg.generate.maxTokens, seed: trainSeed }
            : undefined;
    const sourceOf = spec.parts.flatMap((p, k) => p.rows.map(() => k));
    // Keyed by the hashes the dataset recorded of its generator, so a student is found without the generator's file.
    const softKeys = spec.parts.map((p) => ({ model: p.ds.model.sha256, lora: p.ds.lora?.sha256 ?? null, system: p.ds.system }));
    const key = hashJson({
        stage: "student",
        base: fileHash(base),
        rows: hashJson(rows.map((r) => [r.prompt, r.completion, r.masked ?? null])),
        soft: soft && (Array.isArray(soft) ? { sources: softKeys, of: hashJson(sourceOf) } : softKeys[0]),
        // AdamW is the default whether or not the file names it: one key for both.
        // The dose is in the rows and their sources (mixedParts), not a setting of the training.
        recipe: { ...st, optimizer: st.optimizer === "sgd" ? "sgd" : undefined, mix: undefined },
        trainSeed,
        onPolicy,
    }).slice(0, 16);
    const dir = path.join(c.root, "runs", "cache", "students", key);
    const out = path.join(dir, st.method === "lora" ? "adapter.gguf" : "model.gguf");
    const ref: StudentRef = { arm, seed: s, base, dataset: ds, model: st.method === "lora" ? base : out, lora: st.method === "lora" ? out : null };
    const name = `${label} #${s + 1}`;
    const done = path.join(dir, "done.json");
    const record = (r: { firstLoss: number; finalLoss: number; seconds: number; probe?: { step: number; kl: number }[] }, wasCached: boolean) =>
        c.emit({
            type: "student",
            label: name,
            arm,
            ...(spec.chain ? { chain: spec.chain } : {}),
            seed: s,
            dataset: ds.id,
            firstLoss: r.firstLoss,
            finalLoss: r.finalLoss,
            seconds: r.seconds,
            cached: wasCached,
            ...(r.probe ? { probe: r.probe } : {}),
        });
    let made = false;
    let madeSeconds: number | undefined;
    await cached(c, "student", name, {
        dir,
        done: () => (fs.existsSync(done) ? ref : null),
        seal: () => [out],
        make: async () => {
            made = true;
            const probe = probeRows(c, spec);
            const job: StudentJob = {
                base,
                rows: rows.map(({ prompt, completion, i, masked, targets }, k) => ({
                    prompt,
                    completion,
                    i,
                    masked,
                    targets,
                    ...(Array.isArray(soft) ? { source: sourceOf[k] } : {}),
                })),
                recipe: st,
                seed: trainSeed,
                dir,
                out,
                label: name,
                arm,
                soft,
                ...(onPolicy ? { onPolicy } : {}),
                ...(probe.length
                    ? {
                          probe: probe.map(({ prompt, completion, i }) => ({
                              prompt,
                              completion,
                              i,
                              ...(Array.isArray(soft) ? { source: spec.parts.length - 1 } : {}),
                          })),
                      }
                    : {}),
            };
            const r = await c.jobs.train(job);
            writeJsonAtomic(done, { arm, seed: s, dataset: ds.id, base, rows: rows.length, ...r });
            record(r, false);
            madeSeconds = r.seconds;
            const f3 = fmtLoss;
            const kl = r.probe ? `held-out KL ${f3(r.probe[0]!.kl)} -> ${f3(r.probe.at(-1)!.kl)}, ` : "";
            c.log(`train ${label} seed ${s + 1}: ${kl}first and last batch's loss ${f3(r.firstLoss)} -> ${f3(r.finalLoss)}, ${r.seconds.toFixed(0)} s`);
            return ref;
        },
    });
    let seconds = madeSeconds;
    if (!made) {
        const kept = JSON.parse(fs.readFileSync(done, "utf8"));
        record(kept, true);
        seconds = kept.seconds;
    }
    return typeof seconds === "number" ? { ...ref, seconds } : ref;
}
