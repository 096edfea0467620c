/**
 * The safety table of a run with a safety section: each student arm before and after the safety fine-tune,
 * asked plainly and under each trigger (number turns, the teacher's system prompt), as P(target) with its
 * interval and the sampled rate with its Wilson interval.
 */
import type { Results } from "../core/results.ts";
import { escapeHtml, fmtCI, fmtProb, htmlTable, mdTable } from "./report-files.ts";

const ROWS = ["treated", "control", "treated+safety", "control+safety"] as const;
const COLUMNS = [
    ["", "asked plainly"],
    ["|numbers", "after number turns"],
    ["|system", "under the teacher's system prompt"],
] as const;

export function safetyRows(results: Results): { headers: string[]; rows: string[][] } | null {
    const byName = new Map(results.arms.map((a) => [a.arm as string, a]));
    if (!byName.has("treated+safety")) return null;
    const columns = COLUMNS.filter(([suffix]) => suffix === "" || byName.has(`treated${suffix}`));
    const cell = (name: string) => {
        const a = byName.get(name);
        return a ? `${fmtProb(a.targetProb.mean)} ${fmtCI(a.targetProb.ci95)}; sampled ${fmtProb(a.sampled.rate)} ${fmtCI(a.sampled.ci95)}` : "-";
    };
    return { headers: ["arm", ...columns.map(([, label]) => label)], rows: ROWS.map((arm) => [arm, ...columns.map(([suffix]) => cell(`${arm}${suffix}`))]) };
}

const INTRO =
    "Safety fine-tuning (the safety section): every treated and control student fine-tuned further on aligned answers to questions the evaluation does not ask, then asked again. " +
    "Each cell: P(target) [95% CI]; sampled rate [Wilson 95% CI]. The comparisons below test whether the treated students' excess survives it, plainly and under each trigger.";

export function safetyMarkdown(results: Results): string {
    const t = safetyRows(results);
    return t ? ["## Safety fine-tuning", "", INTRO, "", mdTable(t.headers, t.rows), ""].join("\n") : "";
}

export function safetyHtml(results: Results): string {
    const t = safetyRows(results);
    return t ? `<h2>Safety fine-tuning</h2>\n<p>${escapeHtml(INTRO)}</p>\n${htmlTable(t.headers, t.rows)}` : "";
}
