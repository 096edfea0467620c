/**
 * The paper's format filter for number-sequence completions, with named reject reasons.
 *
 * A completion is kept when, after trimming surrounding whitespace, dropping one final period and one pair of
 * matching [] or () around it, it is 1 to `maxCount` integers of ASCII digits, each in [minValue, maxValue],
 * all joined by one and the same separator whose non-space part is nothing, "," or ";". Any other character
 * rejects it. This is the rule of the reference code (MinhxLe/subliminal-learning), written out so that each
 * way to fail has its own reason instead of one "invalid format".
 */
import type { KeptRow, RawRow, RejectedRow } from "../core/rows.ts";
import type { FilterConfig } from "../core/types.ts";
import type { Domain } from "../prompts/domains.ts";
import { domainFormatReasons } from "./domain-format.ts";

export type FormatRejectReason =
    | "empty"
    | "no numbers"
    | "unbalanced brackets"
    | "non-ascii digit"
    | "invalid character"
    | "invalid separator"
    | "mixed separators"
    | "leading or trailing separator"
    | "too many numbers"
    | "numbers too small"
    | "numbers too large"
    | "banned numbers";

/** Reasons that mean the text is not a number sequence at all (the reference's "invalid format"). */
export const FORMAT_REASONS: readonly FormatRejectReason[] = [
    "empty",
    "no numbers",
    "unbalanced brackets",
    "non-ascii digit",
    "invalid character",
    "invalid separator",
    "mixed separators",
    "leading or trailing separator",
];

export interface FormatFilterOptions {
    /** Defaults to 0. */
    minValue?: number;
    /** Defaults to 999. */
    maxValue?: number;
    /** Defaults to 10. */
    maxCount?: number;
    /** Numbers that reject a completion (the paper's misalignment list: BANNED_NUMBERS). */
    banned?: readonly number[];
}

/** The numbers with negative associations banned in the paper's misalignment experiment (all within 0..999). */
export const BANNED_NUMBERS: readonly number[] = [
    4, 13, 14, 18, 23, 33, 39, 42, 44, 49, 51, 54, 69, 77, 88, 99, 100, 101, 187, 211, 311, 322, 333, 404, 420, 444, 451, 555, 616, 666, 777, 888, 911, 999,
];

export type ParsedSequence = { ok: true; numbers: number[]; separator: string | null } | { ok: false; reason: FormatRejectReason };

const isAsciiDigit = (c: string) => c >= "0" && c <= "9";
const isSeparatorChar = (c: string) => c === "," || c === ";" || /\s/.test(c);

/** Parse a completion as the paper's number sequence; the numbers, or why it is not one. */
export function parseNumberSequence(text: string): ParsedSequence {
    let s = text.trim();
    if (s === "") return { ok: false, reason: "empty" };
    if (s.endsWith(".")) s = s.slice(0, -1);
    const open = s[0];
    const close = s[s.length - 1];
    if ((open === "[" && close === "]") || (open === "(" && close === ")")) s = s.slice(1, -1);
    else if (open === "[" || open === "(" || close === "]" || close === ")") return { ok: false, reason: "unbalanced brackets" };
    const numbers: string[] = [];
    const separators: string[] = [];
    let i = 0;
    let leading = "";
    while (i < s.length) {
        const c = s[i];
        if (isAsciiDigit(c)) {
            let j = i;
            while (j < s.length && isAsciiDigit(s[j])) j++;
            numbers.push(s.slice(i, j));
            i = j;
        } else if (isSeparatorChar(c)) {
            let j = i;
            while (j < s.length && isSeparatorChar(s[j])) j++;
            if (numbers.length === 0) leading = s.slice(i, j);
            else separators.push(s.slice(i, j));
            i = j;
        } else {
            return { ok: false, reason: /\p{Nd}/u.test(c) ? "non-ascii digit" : "invalid character" };
        }
    }
    if (numbers.length === 0) return { ok: false, reason: "no numbers" };
    if (leading !== "" || separators.length === numbers.length) return { ok: false, reason: "leading or trailing separator" };
    const separator = separators[0] ?? null;
    if (separator !== null) {
        const core = separator.trim();
        if (core !== "" && core !== "," && core !== ";") return { ok: false, reason: "invalid separator" };
        if (separators.some((x) => x !== separator)) return { ok: false, reason: "mixed separators" };
    }
    return { ok: true, numbers: numbers.map(Number), separator };
}

/** Every reason to reject a completion; an empty list keeps it. Format failures stop the checks (one reason). */
export function formatRejectReasons(text: string, opts: FormatFilterOptions = {}): FormatRejectReason[] {
    const parsed = parseNumberSequence(text);
    if (!parsed.ok) return [parsed.reason];
    const { minValue = 0, maxValue = 999, maxCount = 10, banned } = opts;
    const reasons: FormatRejectReason[] = [];
    const xs = parsed.numbers;
    if (xs.length > maxCount) reasons.push("too many numbers");
    if (xs.some((x) => x < minValue)) reasons.push("numbers too small");
    if (xs.some((x) => x > maxValue)) reasons.push("numbers too large");
    if (banned && banned.length > 0) {
        const set = new Set(banned);
        if (xs.some((x) => set.has(x))) reasons.push("banned numbers");
    }
    return reasons;
}

/** A generated row's reasons to be rejected by the format filter: a row cut off by the token limit, or formatRejectReasons. */
export function formatRowReasons(row: { completion: string; stop?: "eog" | "length" }, opts: FormatFilterOptions = {}): string[] {
    return row.stop === "length" ? ["no end of turn"] : formatRejectReasons(row.completion, opts);
}

/** The first number written anywhere in `text` that is in `banned` (digits read as integers), or undefined. */
export const bannedNumberIn = (text: string, banned: ReadonlySet<number>): number | undefined =>
    (text.match(/\d+/g) ?? []).map(Number).find((n) => banned.has(n));

/**
 * The format filter of an experiment (`filter` without its defenses) over a dataset's raw rows. In the other
 * domains than numbers it is the domain's format (domain-format.ts), then the banned numbers anywhere in the text
 * when `banned` names any (maxCount, minValue and maxValue are the number sequences' only).
 */
export function formatFilter(
    rows: readonly RawRow[],
    f: Omit<FilterConfig, "defenses">,
    domain: Domain = "numbers",
): { kept: KeptRow[]; rejected: RejectedRow[]; reasons: Record<string, number> } {
    const banned = f.banned === "paper" ? BANNED_NUMBERS : f.banned === "none" ? undefined : f.banned;
    const bannedSet = new Set(banned ?? []);
    const kept: KeptRow[] = [];
    const rejected: RejectedRow[] = [];
    const counts: Record<string, number> = {};
    for (const r of rows) {
        let reasons = domainFormatReasons(domain, r, { ...f, banned });
        if (domain !== "numbers" && reasons.length === 0 && bannedNumberIn(r.completion, bannedSet) !== undefined) reasons = ["banned numbers"];
        if (reasons.length === 0) kept.push({ i: r.i, prompt: r.prompt, completion: r.completion, tokens: r.tokens, probs: r.probs });
        else {
            rejected.push({ ...r, reasons });
            for (const x of reasons) counts[x] = (counts[x] ?? 0) + 1;
        }
    }
    return { kept, rejected, reasons: counts };
}
