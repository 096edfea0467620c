/**
 * `sublab cache gc`: what in the stage cache no current experiment or study file keys. Each file is walked as a
 * run over the cache (core/cache.ts markCacheUses): every stage it finds is marked, none is made, and the first
 * one missing stops its walk. Outputs no walk marked are garbage. The walks run in a scratch root whose
 * runs/cache and datasets are the real ones, so the user's run folders are not touched.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { cachedOutputs, markCacheUses } from "../core/cache.ts";
import { readJsonFile } from "../util/files.ts";
import { lockHolder } from "../util/lock.ts";
import { loadChain, runChain } from "./chain.ts";
import { runExperiment } from "./experiment.ts";
import { loadExperiment } from "./experiment-file.ts";
import { loadPopulation } from "./population-file.ts";
import { runPopulation } from "./population.ts";
import { loadStudy, runStudy } from "./study.ts";
import { loadSweep, runSweep } from "./sweep.ts";

export type StudyFileKind = "experiment" | "sweep" | "chain" | "population" | "study";

/** What a file is, by the field that only its kind has (agents, generations, axes, arms). */
export function studyFileKind(json: unknown): StudyFileKind {
    const o = json && typeof json === "object" ? (json as Record<string, unknown>) : {};
    if ("agents" in o) return "population";
    if ("generations" in o) return "chain";
    if ("axes" in o) return "study";
    if ("arms" in o) return "sweep";
    return "experiment";
}

/** A run of `file` of its kind, with `root` for its runs/ and datasets/, in this process, quiet. */
function runFile(file: string, root: string): () => Promise<unknown> {
    const opts = { root, workers: 1, progress: false };
    switch (studyFileKind(readJsonFile(file))) {
        case "population":
            return () => runPopulation(loadPopulation(file), opts);
        case "chain":
            return () => runChain(loadChain(file), opts);
        case "study":
            return () => runStudy(loadStudy(file), opts);
        case "sweep":
            return () => runSweep(loadSweep(file), opts);
        case "experiment":
            return () => runExperiment(loadExperiment(file), opts);
    }
}

export interface FileWalk {
    file: string;
    /** How many cached outputs it uses that are there. */
    found: number;
    /** The first stage not in the cache, where the walk stopped (what follows it cannot be keyed yet). */
    missing?: string;
    /** A walk that could not run: the file does not load, or a model it names is gone. */
    error?: string;
}

export interface GcPlan {
    walks: FileWalk[];
    /** Every cached output, with its size. */
    outputs: { path: string; bytes: number }[];
    /** The outputs no walk marked and no live process is making. */
    garbage: { path: string; bytes: number }[];
    /** Outputs a live process holds the lock of: never garbage. */
    busy: string[];
}

function bytesOf(p: string): number {
    const st = fs.statSync(p);
    if (!st.isDirectory()) return st.size;
    return fs.readdirSync(p).reduce((n, e) => n + bytesOf(path.join(p, e)), 0);
}

/** The lock folder of a cached output: the folder itself, or an evaluation's runs/cache/evals/.locks/KEY. */
function lockDirOf(output: string): string {
    return output.endsWith(".json") ? path.join(path.dirname(output), ".locks", path.basename(output, ".json")) : output;
}

/** Walks every file over the cache under `root` and returns what no walk used. */
export async function planCacheGc(files: readonly string[], root: string, log: (msg: string) => void = () => {}): Promise<GcPlan> {
    const real = path.resolve(root);
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-gc-"));
    const walks: FileWalk[] = [];
    const marked = new Set<string>();
    try {
        fs.mkdirSync(path.join(scratch, "runs"));
        fs.mkdirSync(path.join(real, "runs", "cache"), { recursive: true });
        fs.mkdirSync(path.join(real, "datasets"), { recursive: true });
        fs.symlinkSync(path.join(real, "runs", "cache"), path.join(scratch, "runs", "cache"), "dir");
        fs.symlinkSync(path.join(real, "datasets"), path.join(scratch, "datasets"), "dir");
        for (const file of files) {
            let walk: FileWalk;
            try {
                const r = await markCacheUses(runFile(file, scratch));
                for (const m of r.marked) marked.add(m);
                walk = { file, found: r.marked.size, ...(r.miss ? { missing: r.miss.what } : {}) };
            } catch (e) {
                walk = { file, found: 0, error: (e as Error).message.split("\n")[0]! };
            }
            walks.push(walk);
            log(walkLine(walk));
        }
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
    const outputs = cachedOutputs(real).map((p) => ({ path: p, bytes: bytesOf(p) }));
    const busy = outputs.filter((o) => lockHolder(lockDirOf(o.path)) !== null).map((o) => o.path);
    const garbage = outputs.filter((o) => !marked.has(fs.realpathSync(o.path)) && !busy.includes(o.path));
    return { walks, outputs, garbage, busy };
}

export function walkLine(w: FileWalk): string {
    if (w.error) return `${w.file}: not walked: ${w.error}`;
    if (!w.missing) return `${w.file}: ${w.found} cached outputs, all of its stages`;
    return `${w.file}: ${w.found} cached outputs, then ${w.missing} is not cached${w.found ? " (what it would make after that cannot be keyed yet)" : ""}`;
}

/** Walks that found some outputs and then stopped: a run of theirs was interrupted, or its recipe changed. */
export const partialWalks = (plan: GcPlan): FileWalk[] => plan.walks.filter((w) => w.missing && w.found > 0);

/** Removes the plan's garbage (an evaluation's empty lock folder with it). */
export function removeGarbage(plan: GcPlan): void {
    for (const g of plan.garbage) {
        fs.rmSync(g.path, { recursive: true, force: true });
        if (g.path.endsWith(".json")) fs.rmSync(lockDirOf(g.path), { recursive: true, force: true });
    }
}
