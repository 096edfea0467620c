/**
 * Stage caching: a stage's output lives in a folder named by a content hash of its inputs (file hashes, not
 * paths) and its resolved configuration, and is there when the folder's completion marker is. `cachedStage`
 * is the one check-then-make every stage uses, with one writer per folder: a second process on the same
 * experiment waits for the first and then finds the output made.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { withLock } from "../util/lock.ts";

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

/**
 * A path a cache record wrote, found in this checkout: as written when it is there, else (a cache copied from
 * another checkout) the same place under `root`'s runs/cache/. Null when neither exists.
 */
export function cachedPath(recorded: string, root: string): string | null {
    if (fs.existsSync(recorded)) return recorded;
    const at = recorded.split(path.sep).lastIndexOf("cache");
    if (at > 0 && recorded.split(path.sep)[at - 1] === "runs") {
        const here = path.join(root, "runs", "cache", ...recorded.split(path.sep).slice(at + 1));
        if (fs.existsSync(here)) return here;
    }
    return null;
}

/** A stable hash of a JSON value (object keys sorted). */
export function hashJson(value: unknown): string {
    const canon = (v: unknown): unknown =>
        Array.isArray(v)
            ? v.map(canon)
            : v && typeof v === "object"
              ? Object.fromEntries(
                    Object.keys(v)
                        .sort()
                        .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
                )
              : v;
    return crypto
        .createHash("sha256")
        .update(JSON.stringify(canon(value)))
        .digest("hex");
}

export interface CachedStage<T> {
    /** The stage's folder (created; it holds the lock while the output is made). */
    dir: string;
    /** The finished output when it is there, else null. */
    done: () => T | null;
    /** Makes the output (called holding the folder's lock, after `done` said null once more). */
    make: () => Promise<T>;
    /** What the stage is, for the line saying another process holds it ("train control seed 1"). */
    what: string;
    log?: (msg: string) => void;
    signal?: AbortSignal;
    /**
     * The files the output is made of (a model, a dataset's rows): sealed with their size and sha256 when made,
     * and checked before a found output is used; one that changed is named and the stage made again.
     */
    seal?: (out: T) => string[];
    /** Where the output is when it is not `dir` itself (an evaluation's file beside its lock folder). */
    holds?: string;
}

/** Thrown by a stage that is not made while `markCacheUses` walks a run: the walk stops there. */
export class CacheMiss extends Error {
    constructor(
        readonly what: string,
        readonly dir: string,
    ) {
        super(`${what}: not in the cache (${dir})`);
    }
}

let marks: Set<string> | null = null;

/**
 * Runs `walk` (a run of an experiment or study over the cache) so that every stage found is marked, and the
 * first one not found throws CacheMiss instead of being made: what `sublab cache gc` keeps. Returns the
 * outputs marked (real paths), and the miss that stopped the walk, if one did.
 */
export async function markCacheUses(walk: () => Promise<unknown>): Promise<{ marked: Set<string>; miss?: CacheMiss }> {
    if (marks) throw new Error("markCacheUses: a walk is already under way in this process");
    const marked = new Set<string>();
    marks = marked;
    try {
        await walk();
        return { marked };
    } catch (e) {
        if (e instanceof CacheMiss) return { marked, miss: e };
        throw e;
    } finally {
        marks = null;
    }
}

/** The output of a stage: found in its folder, or made there by this process (waiting for another that is making it). */
export async function cachedStage<T>(s: CachedStage<T>): Promise<T> {
    if (marks) {
        const out = s.done();
        if (out === null) throw new CacheMiss(s.what, s.holds ?? s.dir);
        marks.add(fs.realpathSync(s.holds ?? s.dir));
        return out;
    }
    // A change is logged once: by the check made holding the lock (another process may have remade it meanwhile).
    const intact = (out: T | null, log?: (msg: string) => void): out is T => out !== null && (!s.seal || checkSeal(s.dir, s.seal(out), log));
    const found = s.done();
    if (intact(found)) return found;
    return withLock(
        s.dir,
        async () => {
            const made = s.done();
            if (intact(made, s.log)) return made;
            const out = await s.make();
            if (s.seal) writeSeal(s.dir, s.seal(out));
            return out;
        },
        { signal: s.signal, onWait: (h) => s.log?.(`${s.what}: pid ${h.pid} is making ${s.dir} (since ${h.since}); waiting for it`) },
    );
}

/** Where a stage's folder keeps the seal of its files. */
export const SEAL_FILE = ".seal.json";

interface SealEntry {
    file: string;
    size: number;
    mtimeMs: number;
    sha256: string;
}

/** Records each file's size, modification time and sha256 in `dir`'s seal (paths relative to `dir`). */
export function writeSeal(dir: string, files: readonly string[]): void {
    const entries: SealEntry[] = files.map((f) => {
        const st = fs.statSync(f);
        return { file: path.relative(dir, f), size: st.size, mtimeMs: st.mtimeMs, sha256: fileHash(f) };
    });
    fs.mkdirSync(dir, { recursive: true });
    const tmp = path.join(dir, `${SEAL_FILE}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, `${JSON.stringify(entries, null, 1)}\n`);
    fs.renameSync(tmp, path.join(dir, SEAL_FILE));
}

/**
 * What changed in a sealed folder since it was sealed: one line per file missing, resized or rewritten (its
 * sha256 differs), empty when none did. `full` hashes every file; otherwise a file whose size and modification
 * time are as sealed is taken as it was, and only the others are hashed.
 */
export function sealChanges(dir: string, full = false): string[] {
    const seal = readJsonIf<SealEntry[]>(path.join(dir, SEAL_FILE));
    if (!seal) return [];
    const out: string[] = [];
    for (const e of seal) {
        const f = path.join(dir, e.file);
        if (!fs.existsSync(f)) {
            out.push(`${f}: missing`);
            continue;
        }
        const st = fs.statSync(f);
        if (st.size !== e.size) out.push(`${f}: ${st.size} bytes, sealed at ${e.size}`);
        else if ((full || st.mtimeMs !== e.mtimeMs) && fileHash(f) !== e.sha256) out.push(`${f}: its sha256 differs from the one sealed when it was made`);
    }
    return out;
}

/**
 * Whether a found output's files are as they were made. A folder made before seals is sealed now, as found.
 * A change is logged, naming the file, and the output is not used.
 */
function checkSeal(dir: string, files: readonly string[], log?: (msg: string) => void): boolean {
    if (!fs.existsSync(path.join(dir, SEAL_FILE))) {
        if (!files.every((f) => fs.existsSync(f))) return false;
        writeSeal(dir, files);
        return true;
    }
    const changes = sealChanges(dir);
    for (const line of changes) log?.(`cache: ${line}; making it again`);
    return changes.length === 0;
}

/** Every cached stage output under `root`: runs/cache/{teachers,students,safety}/KEY, runs/cache/evals/KEY.json, datasets/ID. */
export function cachedOutputs(root: string): string[] {
    const under = (d: string, keep: (e: fs.Dirent) => boolean) =>
        fs.existsSync(d)
            ? fs
                  .readdirSync(d, { withFileTypes: true })
                  .filter((e) => !e.name.startsWith(".") && keep(e))
                  .map((e) => path.join(d, e.name))
                  .sort()
            : [];
    const dirs = (e: fs.Dirent) => e.isDirectory();
    const cache = path.join(root, "runs", "cache");
    return [
        ...under(path.join(cache, "teachers"), dirs),
        ...under(path.join(cache, "students"), dirs),
        ...under(path.join(cache, "safety"), dirs),
        ...under(path.join(cache, "evals"), (e) => e.isFile() && e.name.endsWith(".json")),
        ...under(path.join(root, "datasets"), dirs),
    ];
}

/**
 * A JSON file's contents when it exists and parses, else null (the `done` of a stage whose marker is a JSON
 * file): a marker cut short by a crash or an edit is a stage not done, made again.
 */
export function readJsonIf<T>(file: string, accept: (v: T) => boolean = () => true): T | null {
    if (!fs.existsSync(file)) return null;
    let v: T;
    try {
        v = JSON.parse(fs.readFileSync(file, "utf8")) as T;
    } catch {
        return null;
    }
    return accept(v) ? v : null;
}
