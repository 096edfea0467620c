/**
 * The rows of the lab, defined once: a generated row (RawRow), a row as filters see it (FilterRow), a kept
 * row of a dataset (KeptRow) and a rejected one, and the one resumable row sink every generation backend
 * (engine, llama.cpp, ONNX, HTTP) writes through.
 *
 * Every row has an index and its own sampling seed derived from (seed, index), so what a row contains does not
 * depend on which other rows were decoded beside it or on when the run was interrupted: a killed run, started
 * again, generates only the missing indices and ends with the rows an uninterrupted run has.
 */
import fs from "node:fs";
import { writeJsonlAtomic, writing } from "../util/files.ts";
import { hashString } from "../util/rng.ts";

export interface RawRow {
    /** Row index: prompt index x samplesPerPrompt + sample. */
    i: number;
    prompt: string;
    system: string | null;
    completion: string;
    /** Sampled tokens (the end-of-turn token, when reached, is not included). */
    tokens: number[];
    /** The teacher's probability of each sampled token, at the sampling temperature. */
    probs: number[];
    /** "eog": the model ended its turn; "length": maxTokens was reached. */
    stop: "eog" | "length";
}

/** A row as filters see it: a generated completion with, when known, its sampled tokens and their teacher probabilities. */
export interface FilterRow extends Pick<RawRow, "i" | "prompt" | "completion">, Partial<Pick<RawRow, "system" | "tokens" | "probs" | "stop">> {
    /**
     * Target positions masked from the training loss: indices into the completion's target tokens as the
     * training tokenizer makes them (its tokens, then the end of turn). Set by mask-divergence.
     */
    masked?: number[];
    /** The number of target tokens `masked` indexes (checked against the student's tokenization). */
    targets?: number;
}

/**
 * A kept row of a dataset (a raw row that passed the filter). Rows of a defended dataset may have lost their
 * tokens and probabilities (a defense rewrote the text) or carry loss masks (src/data/filter-stages.ts).
 */
export type KeptRow = Pick<RawRow, "i" | "prompt" | "completion"> & Partial<Pick<RawRow, "tokens" | "probs">> & Pick<FilterRow, "masked" | "targets">;
export type RejectedRow = RawRow & { reasons: string[] };

/** What rows to generate, whatever the backend: row i = prompt floor(i / samplesPerPrompt), seeded by rowSeed(seed, i). */
export interface RowsRequest {
    system: string | null;
    /** Earlier turns every prompt follows (a conversing agent's recent exchanges held in context); absent: none. */
    history?: { user: string; assistant: string }[];
    prompts: string[];
    samplesPerPrompt: number;
    temperature: number;
    maxTokens: number;
    seed: number;
    onRow?: (done: number, total: number) => void;
}

/** The sampling seed of row i: independent of batching and of resumption. */
export const rowSeed = (seed: number, i: number) => hashString(`${seed}:${i}`);

/** Reads the complete rows of a JSONL file and cuts off a torn last line (a run killed mid-write). */
export function readRowsResumable<T>(file: string): T[] {
    if (!fs.existsSync(file)) return [];
    const text = fs.readFileSync(file, "utf8");
    const end = text.lastIndexOf("\n") + 1;
    if (end < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, end)));
    const rows: T[] = [];
    for (const line of text.slice(0, end).split("\n")) if (line.trim() !== "") rows.push(JSON.parse(line) as T);
    return rows;
}

/**
 * The rows of a request, appended to a JSONL file (or held in memory when there is none) as they finish. Rows
 * already in the file are kept (`keep` may drop some, e.g. llama.cpp's incomplete chunks, and duplicates are
 * dropped), so a rerun generates only what is missing; when the last row is in, the file is rewritten in index
 * order if the rows came out of order, so an interrupted run leaves the same bytes as an uninterrupted one.
 */
export class RowSink {
    readonly have = new Map<number, RawRow>();
    readonly resumed: number;
    private fd: number | null = null;
    private inFile: number[];

    constructor(
        readonly file: string | null,
        readonly total: number,
        private readonly onRow?: (done: number, total: number) => void,
        keep?: (rows: RawRow[], total: number) => RawRow[],
    ) {
        const found = file ? readRowsResumable<RawRow>(file).filter((r) => r.i < total) : [];
        for (const r of keep ? keep(found, total) : found) this.have.set(r.i, r);
        this.inFile = found.map((r) => r.i);
        if (file && this.have.size !== found.length) {
            const rows = this.rows();
            writeJsonlAtomic(file, rows);
            this.inFile = rows.map((r) => r.i);
        }
        this.resumed = this.have.size;
    }

    has(i: number): boolean {
        return this.have.has(i);
    }

    /** The indices still to generate, in order. */
    missing(): number[] {
        return Array.from({ length: this.total }, (_, i) => i).filter((i) => !this.have.has(i));
    }

    append(row: RawRow): void {
        if (this.file) {
            const file = this.file;
            writing(file, () => fs.writeSync((this.fd ??= fs.openSync(file, "a")), JSON.stringify(row) + "\n"));
            this.inFile.push(row.i);
        }
        this.have.set(row.i, row);
        this.onRow?.(this.have.size, this.total);
    }

    rows(): RawRow[] {
        return [...this.have.values()].sort((a, b) => a.i - b.i);
    }

    /** Closes the file; when every row is in and some were appended out of order, rewrites it in index order. */
    finish(): RawRow[] {
        if (this.fd !== null) fs.closeSync(this.fd);
        this.fd = null;
        const rows = this.rows();
        if (this.file && rows.length === this.total && rows.length > this.resumed && this.inFile.some((i, k) => i !== k)) writeJsonlAtomic(this.file, rows);
        return rows;
    }
}

/** A generation backend: fills the missing rows of a sink (what it sampled: tokens, and retried requests for a server). */
export interface RowSource {
    generate(req: RowsRequest, sink: RowSink, signal?: AbortSignal): Promise<{ tokens: number; retries?: number }>;
    /** Which rows found in the file a rerun keeps (default: all). */
    keepOnResume?: (rows: RawRow[], total: number) => RawRow[];
}

export interface GenerateResult {
    rows: RawRow[];
    /** Rows found in the file when the job started. */
    resumed: number;
    generated: number;
    /** Tokens sampled by this call (not counting resumed rows). */
    tokens: number;
    seconds: number;
    interrupted: boolean;
    /** Requests a server answered only when asked again. */
    retries?: number;
}

/** The rows of `req` from `source`, resuming `out` (null: in memory only). */
export async function generateRows(source: RowSource, req: RowsRequest, out: string | null, signal?: AbortSignal): Promise<GenerateResult> {
    const t0 = performance.now();
    const sink = new RowSink(out, req.prompts.length * req.samplesPerPrompt, req.onRow, source.keepOnResume);
    let made: { tokens: number; retries?: number } = { tokens: 0 };
    try {
        if (sink.have.size < sink.total) made = await source.generate(req, sink, signal);
    } finally {
        sink.finish();
    }
    const rows = sink.rows();
    return {
        rows,
        resumed: sink.resumed,
        generated: rows.length - sink.resumed,
        tokens: made.tokens,
        seconds: (performance.now() - t0) / 1000,
        interrupted: rows.length < sink.total,
        ...(made.retries !== undefined ? { retries: made.retries } : {}),
    };
}
