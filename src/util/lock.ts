/**
 * One writer per folder: a lock file created exclusively (O_EXCL) holding the owner's pid. A second process that
 * wants the folder waits for the first (saying so, with its pid) and then finds its work done; a lock whose pid
 * is gone (the owner was killed) is taken over.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LockOptions {
    /** Told once when the folder is held by another live process. */
    onWait?: (holder: { pid: number; host: string; since: string }) => void;
    /** Milliseconds between checks while waiting. Defaults to 250. */
    pollMs?: number;
    signal?: AbortSignal;
}

const LOCK = ".lock";

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** The live process holding `dir`'s lock on this host, or null (no lock, or its owner is gone). */
export function lockHolder(dir: string): { pid: number; host: string; since: string } | null {
    try {
        const h = JSON.parse(fs.readFileSync(path.join(dir, LOCK), "utf8")) as { pid: number; host: string; since: string };
        return h.host !== os.hostname() || alive(h.pid) ? h : null;
    } catch {
        return null;
    }
}

/** Runs `fn` holding `dir`'s lock (the folder is created), waiting for another holder first. */
export async function withLock<T>(dir: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, LOCK);
    let told = false;
    for (;;) {
        try {
            const fd = fs.openSync(file, "wx");
            fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }));
            fs.closeSync(fd);
            break;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        let holder: { pid: number; host: string; since: string } | undefined;
        try {
            holder = JSON.parse(fs.readFileSync(file, "utf8"));
        } catch {
            holder = undefined; // being written, or just removed: look again
        }
        if (holder && holder.host === os.hostname() && !alive(holder.pid)) {
            fs.rmSync(file, { force: true }); // its owner died: take it over
            continue;
        }
        if (holder && !told) {
            told = true;
            opts.onWait?.(holder);
        }
        if (opts.signal?.aborted) throw new Error(`${dir}: still held by pid ${holder?.pid ?? "?"} when interrupted`);
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
    try {
        return await fn();
    } finally {
        fs.rmSync(file, { force: true });
    }
}
