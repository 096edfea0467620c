/**
 * How every report prints a verdict (src/stats/verdict.ts computes it): the words, the raw and Holm-adjusted p,
 * the equivalence p and the family, in one place so that the run, sweep, study, chain and compare reports, the
 * workshop page and the README tables say the same thing the same way.
 */
import type { Verdict } from "../core/verdicts.ts";
import { fmtP } from "./fmt.ts";

/** The verdict's words, with "(within the margin)" where a shift was shown and is also inside the margin; "-" for results from before verdicts. */
export function verdictWords(v: Verdict | undefined): string {
    if (!v) return "-";
    const inside = (v.word === "moved toward" || v.word === "moved away") && v.pEquivalenceAdjusted < v.alpha;
    return inside ? `${v.text}, by less than x${v.margin.toFixed(2)}` : v.text;
}

/** "p 0.0079, adj 0.024 (Holm over 3), eq adj 1": the numbers behind a verdict. */
export function verdictNumbers(v: Verdict | undefined, p: number): string {
    if (!v) return `p ${fmtP(p)} (before verdicts: not corrected)`;
    const family = v.family.size > 1 ? `Holm over ${v.family.size} ${v.family.name}` : "alone in its family";
    return `p ${fmtP(v.p)}, adj ${fmtP(v.pAdjusted)} (${family}), equivalence adj ${fmtP(v.pEquivalenceAdjusted)}`;
}

/** The table cells of a verdict: words, raw p, adjusted p, equivalence p adjusted. */
export function verdictCells(v: Verdict | undefined, p: number): string[] {
    return [verdictWords(v), fmtP(v?.p ?? p), v ? fmtP(v.pAdjusted) : "-", v ? fmtP(v.pEquivalenceAdjusted) : "-"];
}

export const VERDICT_HEADERS = ["verdict", "p", "p adj (Holm)", "p equivalence adj"];

/** A report's paragraph on how verdicts are drawn, with the run's alpha and margin. */
export function verdictRules(alpha: number, margin: number): string {
    return (
        `Verdicts are drawn over families of comparisons (a run's primary comparison alone, its other comparisons together; ` +
        `a sweep's defenses; a study's cells; a chain's generations). "moved toward" or "moved away": the two-sided p of the ` +
        `permutation test, adjusted by Holm over the family, is below ${alpha}. "no shift larger than x${margin.toFixed(2)}": ` +
        `two one-sided tests (TOST) against that margin, Holm-adjusted, are below ${alpha}. Otherwise "can't tell", with the ` +
        `interval, and where it helps how many students per arm would likely settle it. The interval is the same permutation ` +
        `test inverted (the shifts it does not reject), so it excludes 0 exactly when the raw p is below ${alpha}; where the ` +
        `design's smallest possible p is too large it cannot be bounded, and prints as inf.`
    );
}

/** The design check's lines ("Design: ..."), none when every family can pass its correction. */
export const designLines = (design: readonly string[] | undefined): string[] => (design ?? []).map((d) => `Design: ${d}`);

/** The design check as a terminal table's closing lines ("" when there are none). */
export function designNote(design: readonly string[] | undefined): string {
    return design?.length ? `\n${designLines(design).join("\n")}\n` : "";
}
