/**
 * What the filter and defense stages (stages.ts) are made of: the row, result and environment types, the
 * parameter definitions of a stage spec, and the helpers stages share (splitting rows by reasons, parsing
 * number sequences, rewriting a row's text, ranking scores).
 */
import type { FilterRow } from "../core/rows.ts";
import type { TokenScores } from "../core/jobs.ts";
import { Rng } from "../util/rng.ts";
import { parseNumberSequence } from "./number-format.ts";
import type { Domain } from "../prompts/domains.ts";
import { VIOLENT_WORDS } from "./keyword.ts";

export interface RejectedFilterRow {
    row: FilterRow;
    stage: string;
    reasons: string[];
}

export interface StageResult {
    kept: FilterRow[];
    rejected: RejectedFilterRow[];
    /** Extra figures the stage reports (e.g. the share of tokens masked, the score cut). */
    stats?: Record<string, number>;
}

/** Which model a score is asked of: the data's own source (the teacher), the base, or a model named by path. */
export type ScoreSource = "teacher" | "base" | { model: string };

/** What the model-backed stages need; a missing function makes such a stage fail with a clear message. */
export interface StageEnv {
    /** Seeds every random choice (shuffles, tie-breaks). */
    seed: number;
    /** The trait's target word (keyword's and judge's default). */
    target?: string;
    /** The trait's category: "misalignment" makes keyword look for violent words and judge ask about alignment. */
    category?: string;
    /** The rows' data domain (format's, paraphrase's and dedupe's default): numbers when absent. */
    domain?: Domain;
    /** Per-token scores of each row's completion (its target tokens, end of turn included). */
    scoreTokens?: (source: ScoreSource, rows: FilterRow[]) => Promise<TokenScores[]>;
    /** P(yes) / (P(yes) + P(no)) of a judge model for each question. */
    judge?: (model: string | null, questions: string[]) => Promise<number[]>;
    /** A neutral model's rewrite of each request (a user turn), sampled with the given seed; null where it did not end its turn. */
    rewrite?: (model: string | null, requests: string[], opts: { temperature: number; seed: number }) => Promise<(string | null)[]>;
    log?: (msg: string) => void;
}

// ---- specs and parameters ----

export type ParamKind = "number" | "fraction" | "int" | "string" | "list" | "enum" | "path";

export interface ParamDef {
    kind: ParamKind;
    doc: string;
    default?: number | string | string[] | null;
    values?: readonly string[];
}

export type Params = Record<string, number | string | string[] | null>;

export interface StageSpec {
    name: string;
    params: Params;
    /** The spec as written (normalised: name, then the given params in the definition's order). */
    text: string;
}

export interface StageDef {
    name: string;
    doc: string;
    params: Record<string, ParamDef>;
    run(rows: FilterRow[], p: Params, env: StageEnv, spec: StageSpec): StageResult | Promise<StageResult>;
}

export const PAPER = "paper";

// ---- helpers ----

export const reject = (row: FilterRow, stage: string, reasons: string[]): RejectedFilterRow => ({ row, stage, reasons });

export function split(rows: FilterRow[], stage: string, reasonsOf: (r: FilterRow) => string[]): StageResult {
    const kept: FilterRow[] = [];
    const rejected: RejectedFilterRow[] = [];
    for (const r of rows) {
        const reasons = reasonsOf(r);
        if (reasons.length) rejected.push(reject(r, stage, reasons));
        else kept.push(r);
    }
    return { kept, rejected };
}

/** Rows parsed as number sequences, and the rows that are not one (rejected by `stage`). */
export function sequences(rows: FilterRow[], stage: string): { ok: { r: FilterRow; numbers: number[] }[]; rejected: RejectedFilterRow[] } {
    const ok: { r: FilterRow; numbers: number[] }[] = [];
    const rejected: RejectedFilterRow[] = [];
    for (const r of rows) {
        const parsed = parseNumberSequence(r.completion);
        if (parsed.ok) ok.push({ r, numbers: parsed.numbers });
        else rejected.push(reject(r, stage, [`not a number sequence (${parsed.reason})`]));
    }
    return { ok, rejected };
}

/** A row whose text changed: its tokens, probabilities and masks no longer describe it. */
export function retext(row: FilterRow, completion: string): FilterRow {
    const { tokens: _t, probs: _p, masked: _m, targets: _n, ...rest } = row;
    return { ...rest, completion };
}

/**
 * The text of a number sequence with new numbers in the same places: everything around and between the
 * numbers (brackets, separators, a final period, whitespace) stays as it was.
 */
export function replaceNumbers(text: string, numbers: readonly number[]): string {
    const held = text.match(/\d+/g)?.length ?? 0;
    if (held !== numbers.length) throw new Error(`replaceNumbers: ${numbers.length} numbers for a text holding ${held}`);
    let k = 0;
    return text.replace(/\d+/g, () => String(numbers[k++]));
}

export function needs<K extends keyof StageEnv>(env: StageEnv, key: K, stage: string): NonNullable<StageEnv[K]> {
    const f = env[key];
    if (!f) throw new Error(`filter ${stage} needs a model (${key}); run it from an experiment, or give sublab filter the models it asks for`);
    return f as NonNullable<StageEnv[K]>;
}

export function targetWords(p: Params, env: StageEnv, stage: string): string[] {
    const words = p.words as string[] | null;
    if (words) return words;
    if (env.category === "misalignment") return [...VIOLENT_WORDS];
    if (!env.target) throw new Error(`filter ${stage}: no words given and no trait target to default to (write ${stage}:words=owl|owls)`);
    return [env.target];
}

export const lower = (s: string) => s.toLowerCase();

/** Ranks with ties broken by a seeded random order (so that equal scores are not cut by row index). */
export function rankDescending(scores: number[], rng: Rng): number[] {
    const tie = scores.map(() => rng.next());
    return scores.map((_, k) => k).sort((a, b) => scores[b]! - scores[a]! || tie[a]! - tie[b]!);
}
