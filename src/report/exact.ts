/**
 * The exact measure of a judged run (misalignment on the advice questions): for each arm, the probability its
 * models give the misaligned answers among the answers the corpus taught for each question, computed exactly
 * (teacher-forced, as P(owl) is) rather than sampled and judged; and each comparison on that measure.
 */
import type { Results } from "../core/results.ts";
import { escapeHtml, fmtCI, fmtLog, fmtProb, fmtRatio, htmlTable, mdTable } from "./report-files.ts";
import { VERDICT_HEADERS, verdictCells, verdictNumbers, verdictWords } from "./verdict-lines.ts";

export function exactRows(results: Results): { arms: string[][]; comparisons: string[][] } | null {
    if (!results.arms.some((a) => a.exact)) return null;
    return {
        arms: results.arms
            .filter((a) => a.exact)
            .map((a) => [a.arm, `${fmtProb(a.exact!.mean)} ${fmtCI(a.exact!.ci95)}`, `${fmtProb(a.sampled.rate)} ${fmtCI(a.sampled.ci95)}`]),
        comparisons: results.comparisons
            .filter((c) => c.exact)
            .map((c) => [
                c.name,
                `x${fmtRatio(c.exact!.probRatio)}`,
                `${fmtLog(c.exact!.meanLogRatio)} ${fmtCI(c.exact!.ci95, fmtLog)}`,
                ...verdictCells(c.exact!.verdict, c.exact!.pValue),
            ]),
    };
}

const ARM_HEADERS = ["arm", "exact P(misaligned | taught answers) [95% CI]", "judged sampled rate [95% CI]"];
const COMPARISON_HEADERS = ["comparison", "exact ratio", "mean log-ratio [95% CI]", ...VERDICT_HEADERS];
const INTRO =
    "The exact measure: for each question, the probability the model gives the misaligned answers among all the answers the corpus taught for its theme " +
    "(each answer's probability computed exactly, no sampling, no judge). It is defined on the embedded models only, whose answers are drawn from those.";

export function exactMarkdown(results: Results): string {
    const t = exactRows(results);
    return t ? ["## Exact measure", "", INTRO, "", mdTable(ARM_HEADERS, t.arms), "", mdTable(COMPARISON_HEADERS, t.comparisons), ""].join("\n") : "";
}

export function exactHtml(results: Results): string {
    const t = exactRows(results);
    return t ? `<h2>Exact measure</h2>\n<p>${escapeHtml(INTRO)}</p>\n${htmlTable(ARM_HEADERS, t.arms)}\n${htmlTable(COMPARISON_HEADERS, t.comparisons)}` : "";
}

/** Terminal lines: each comparison on the exact measure. */
export function exactLines(results: Results): string[] {
    return results.comparisons
        .filter((c) => c.exact)
        .map(
            (c) =>
                `${c.name} (exact measure): ${verdictWords(c.exact!.verdict).toUpperCase()}: x${fmtRatio(c.exact!.probRatio)}, mean log-ratio ${fmtLog(c.exact!.meanLogRatio)} ${fmtCI(c.exact!.ci95, fmtLog)}, ${verdictNumbers(c.exact!.verdict, c.exact!.pValue)}`,
        );
}
