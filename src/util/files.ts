/**
 * Text files that are never seen half-written (a temporary file, then a rename), and JSONL reading: the
 * datasets, manifests, caches and reports of an experiment go through these.
 */
import fs from "node:fs";
import path from "node:path";

/** What each error of a write refused for lack of room or rights means. */
const WRITE_ERRORS: Readonly<Record<string, string>> = {
    ENOSPC: "no space left on the device",
    EDQUOT: "the disk quota is used up",
    EFBIG: "the file would be larger than the file system, or the process's file-size limit, allows",
    EROFS: "the file system is read-only",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
};

/** A write refused for lack of room or rights, naming the file. */
export class WriteError extends Error {
    constructor(
        readonly path: string,
        readonly code: string,
    ) {
        super(
            `cannot write ${path}: ${WRITE_ERRORS[code]} (${code}). What was finished is kept and nothing half-written is used: make room, or make the folder writable, and run the same command again`,
        );
    }
}

/** `e` as a WriteError naming `file` when it is a write refused for lack of room or rights; otherwise `e`. */
export function writeError(e: unknown, file: string): unknown {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (e instanceof WriteError || !code || !(code in WRITE_ERRORS)) return e;
    return new WriteError(file, code);
}

/**
 * A write past a file-size limit (ulimit -f) fails with EFBIG, and is named as any refused write, instead of
 * killing the process: Node ignores SIGXFSZ, but signal-exit (a dependency's) turns it into a kill unless the
 * process handles it. Called by the CLI and by every worker process.
 */
export function refuseOversizeWrites(): void {
    process.on("SIGXFSZ", () => {});
}

/** Runs a write to `file`; a refusal for lack of room or rights is thrown as a WriteError naming it. */
export function writing<T>(file: string, write: () => T): T {
    try {
        return write();
    } catch (e) {
        throw writeError(e, file);
    }
}

/** Writes `text` to `file` through a temporary file and a rename; creates the folder. */
export function writeFileAtomic(file: string, text: string): void {
    writing(file, () => fs.mkdirSync(path.dirname(file), { recursive: true }));
    const tmp = `${file}.tmp-${process.pid}`;
    try {
        writing(file, () => {
            fs.writeFileSync(tmp, text);
            fs.renameSync(tmp, file);
        });
    } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
    }
}

export function writeJsonAtomic(file: string, value: unknown): void {
    writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}

/** One JSON value per line. */
export function writeJsonlAtomic(file: string, rows: readonly unknown[]): void {
    writeFileAtomic(file, rows.map((r) => JSON.stringify(r) + "\n").join(""));
}

export function readJsonl<T>(file: string): T[] {
    const out: T[] = [];
    fs.readFileSync(file, "utf8")
        .split("\n")
        .forEach((l, k) => {
            if (l.trim() === "") return;
            try {
                out.push(JSON.parse(l) as T);
            } catch (e) {
                throw new Error(`${file}:${k + 1}: not a JSON line (${(e as Error).message}): ${l.length > 60 ? `${l.slice(0, 60)}...` : l}`);
            }
        });
    return out;
}

/** Reads a JSON file; a syntax error names the file, line and column. */
export function readJsonFile(file: string): unknown {
    const text = fs.readFileSync(file, "utf8").replace(/^\uFEFF/, "");
    try {
        return JSON.parse(text);
    } catch (e) {
        let message = (e as Error).message;
        const pos = /at position (\d+)/.exec(message);
        if (pos && !/line \d+/.test(message)) {
            const before = text.slice(0, Number(pos[1])).split("\n");
            message += ` (line ${before.length} column ${before[before.length - 1]!.length + 1})`;
        }
        throw new Error(`${file}: invalid JSON: ${message}`);
    }
}
