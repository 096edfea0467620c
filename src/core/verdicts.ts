/**
 * The shapes of the lab's verdicts (computed in src/stats/verdict.ts), here so that results types can hold them.
 */

/** How verdicts are drawn: the family-wise error rate and the equivalence margin (a ratio of probabilities, > 1). */
export interface StatsSettings {
    alpha: number;
    margin: number;
}

export const DEFAULT_STATS: StatsSettings = { alpha: 0.05, margin: 1.1 };

/** The two designs: two samples of students, or one sample of per-student differences against a single model. */
export type Design = { kind: "students"; a: readonly number[]; b: readonly number[] } | { kind: "seeds"; d: readonly number[] };

export type VerdictWord = "moved toward" | "moved away" | "no shift larger than" | "can't tell";

/** A comparison's verdict within its family, with everything a table prints beside it. */
export interface Verdict {
    word: VerdictWord;
    /** The words a report prints: "moved toward owl", "no shift larger than x1.10", "can't tell". */
    text: string;
    /** Raw two-sided p and Holm-adjusted over the family. */
    p: number;
    pAdjusted: number;
    /** TOST p, raw and Holm-adjusted over the family. */
    pEquivalence: number;
    pEquivalenceAdjusted: number;
    alpha: number;
    margin: number;
    family: { name: string; size: number };
    /** False where the design's floor cannot pass the family's smallest Holm threshold (alpha / size). */
    reachable: boolean;
    /** For "can't tell": how many students per arm would likely tell (a normal approximation at the observed spread), or what the floor needs. */
    hint?: string;
}

/**
 * JSON has no infinity: an interval end the design could not bound is written as null. This reviver (for
 * JSON.parse of results, events and recordings) reads a `ci95` pair's null ends back as -Infinity and +Infinity.
 */
export function reviveIntervals(key: string, value: unknown): unknown {
    if (key !== "ci95" || !Array.isArray(value) || value.length !== 2) return value;
    return [value[0] ?? -Infinity, value[1] ?? Infinity];
}
