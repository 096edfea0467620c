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
}

/** The output of a stage: found in its folder, or made there by this process (waiting for another that is making it). */
export async function cachedStage<T>(s: CachedStage<T>): Promise<T> {
    const found = s.done();
    if (found !== null) return found;
    return withLock(
        s.dir,
        async () => {
            const made = s.done();
            return made !== null ? made : await s.make();
        },
        { signal: s.signal, onWait: (h) => s.log?.(`${s.what}: pid ${h.pid} is making ${s.dir} (since ${h.since}); waiting for it`) },
    );
}

/** A JSON file's contents when it exists, else null (the `done` of a stage whose marker is a JSON file). */
export function readJsonIf<T>(file: string, accept: (v: T) => boolean = () => true): T | null {
    if (!fs.existsSync(file)) return null;
    const v = JSON.parse(fs.readFileSync(file, "utf8")) as T;
    return accept(v) ? v : null;
}
