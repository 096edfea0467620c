/**
 * A chain's report: a terminal table, report.md, and report.html with the trait per generation (P(target) of
 * the treated and control lineages with 95% intervals, generation 0 being the teacher and the base).
 */
import type { ChainResults } from "../core/results.ts";
import { lineChart, type LineSeries } from "./charts.ts";
import { fixedWidth, fmtCI, fmtLog, fmtP, fmtProb, fmtRatio, htmlTable, mdTable, writeStudyReport } from "./report-files.ts";
import { designNote, VERDICT_HEADERS, verdictCells, verdictWords } from "./verdict-lines.ts";

const HEADERS = ["data", "generation", "rows", "P(target) treated", "P(target) control", "ratio", "log-ratio [95% CI]", ...VERDICT_HEADERS, "rank"];
/** Judged traits: the exact measure beside the judged one. */
const EXACT_HEADERS = ["exact treated", "exact control", "exact ratio", "exact verdict", "exact p adj"];

const headers = (r: ChainResults) => (r.generations.some((g) => g.exact) ? [...HEADERS, ...EXACT_HEADERS] : HEADERS);

function rows(r: ChainResults): string[][] {
    return r.generations.map((g) => [
        g.mode,
        String(g.generation),
        String(g.rows),
        `${fmtProb(g.treated.targetProb.mean)} ${fmtCI(g.treated.targetProb.ci95)}`,
        `${fmtProb(g.control.targetProb.mean)} ${fmtCI(g.control.targetProb.ci95)}`,
        `x${fmtRatio(g.transfer.probRatio)}`,
        `${fmtLog(g.transfer.meanLogRatio)} ${fmtCI(g.transfer.ci95, fmtLog)}`,
        ...verdictCells(g.transfer.verdict, g.transfer.pValue),
        `${g.transfer.targetRank}/${r.items.length}`,
        ...(g.exact
            ? [
                  fmtProb(g.exact.treated),
                  fmtProb(g.exact.control),
                  `x${fmtRatio(g.exact.transfer.probRatio)}`,
                  verdictWords(g.exact.transfer.verdict),
                  fmtP(g.exact.transfer.verdict?.pAdjusted ?? g.exact.transfer.pValue),
              ]
            : []),
    ]);
}

const TREND_HEADERS = ["data", "transfer at generation 1", "at the last", "change [95% CI]", "p", "p adj (Holm)", "p equivalence adj", "verdict"];

function trendRows(r: ChainResults): string[][] {
    const row = (t: ChainResults["trends"][number], what: string) => [
        `${t.mode}${what}`,
        fmtLog(t.first),
        fmtLog(t.last),
        `${fmtLog(t.change)}${t.ci95 ? ` ${fmtCI(t.ci95, fmtLog)}` : ""}`,
        fmtP(t.pValue ?? Math.min(1, 2 * Math.min(t.pUp, t.pDown))),
        t.test ? fmtP(t.test.pAdjusted) : "-",
        t.test ? fmtP(t.test.pEquivalenceAdjusted) : "-",
        t.verdict,
    ];
    return [...r.trends.map((t) => row(t, "")), ...(r.exactTrends ?? []).map((t) => row(t, " (exact)"))];
}

function head(r: ChainResults): string {
    const e = r.experiment;
    return (
        `${r.chain}: target ${r.target}; ${r.generationsAsked} generations, ${e.student.seeds} lineages each (treated and control), ` +
        `${e.student.rows} rows per generation, ${e.student.labels} labels; base P = ${fmtProb(r.base.targetProb.mean)}, teacher P = ${fmtProb(r.teacher.targetProb.mean)}`
    );
}

export function chainTable(r: ChainResults): string {
    const trends = r.trends.length ? `\n\n${fixedWidth(TREND_HEADERS, trendRows(r))}` : "";
    return `${head(r)}\n\n${fixedWidth(headers(r), rows(r))}${trends}\n${designNote(r.design)}`;
}

const HOW_TO_READ =
    "Generation 1 students learn from the teacher's data (treated lineages) or the base's (control lineages); generation g+1 " +
    "students, fresh from the same base, learn from data their lineage's generation g wrote (same prompts and sampling noise in " +
    "both lineages). replaced: each generation trains on its predecessor's rows only; accumulated: on every earlier generation's " +
    "rows as well. ratio and log-ratio: treated over control students of the generation (bootstrap 95% interval over questions x " +
    "lineages); its verdict is drawn over the chain's generations (Holm). Judged traits (misalignment) are compared on the exact measure too " +
    "(exact: P(misaligned) among the answers the corpus taught, as in a run's report). Trend: each lineage's transfer (mean log-ratio against its control " +
    'lineage) at the last generation minus at the first, tested by exact sign flips over lineages: "fades" or "grows" where ' +
    'the Holm-adjusted two-sided p over the chain\'s trends is below alpha, "holds" only where two one-sided tests put the change ' +
    'inside the margin, "can\'t tell" otherwise. The smallest two-sided p of n lineages is 2^(1-n): 5 lineages cannot reach 0.05, ' +
    "7 can pass Holm over two trends.";

const COLOURS: Record<string, [string, string]> = { replaced: ["#c4500f", "#3a6ea5"], accumulated: ["#8e2c7e", "#2b8a3e"] };

/** The trait per generation: treated and control lineages of each data mode (generation 0 of the control lineages is the base; the teacher is off the scale and named in the title). */
export function chainChart(r: ChainResults): string {
    const series: LineSeries[] = [];
    const point = (a: ChainResults["base"], x: number) => ({
        x,
        y: a.targetProb.mean,
        lo: a.targetProb.ci95[0],
        hi: a.targetProb.ci95[1],
        note: `${fmtProb(a.targetProb.mean)} ${fmtCI(a.targetProb.ci95)}`,
    });
    for (const mode of modes(r)) {
        const gens = r.generations.filter((g) => g.mode === mode);
        series.push({ name: `treated, ${mode}`, colour: COLOURS[mode]![0], points: gens.map((g) => point(g.treated, g.generation)) });
        series.push({
            name: `control, ${mode}`,
            colour: COLOURS[mode]![1],
            dashed: true,
            points: [point(r.base, 0), ...gens.map((g) => point(g.control, g.generation))],
        });
    }
    return lineChart({
        title: `P(${r.target}) per generation, mean and 95% CI (0: the base; the teacher: ${fmtProb(r.teacher.targetProb.mean)})`,
        xLabel: "generation",
        yLabel: `P(${r.target}), log scale`,
        log: true,
        series,
    });
}

/** Transfer per generation: the treated over the control students' P(target) (geometric mean ratio, 95% CI); 1 is none. */
export function transferChart(r: ChainResults): string {
    const series: LineSeries[] = modes(r).map((mode) => ({
        name: mode,
        colour: COLOURS[mode]![0],
        points: r.generations
            .filter((g) => g.mode === mode)
            .map((g) => ({
                x: g.generation,
                y: Math.exp(g.transfer.meanLogRatio),
                lo: Math.exp(Math.max(-5, g.transfer.ci95[0])),
                hi: Math.exp(Math.min(5, g.transfer.ci95[1])),
                note: `x${Math.exp(g.transfer.meanLogRatio).toFixed(2)}, p ${fmtP(g.transfer.pValue)}`,
            })),
    }));
    series.push({ name: "no transfer", colour: "#999", dashed: true, points: [...new Set(r.generations.map((g) => g.generation))].map((x) => ({ x, y: 1 })) });
    return lineChart({
        title: `Transfer per generation: treated over control, exp(mean log-ratio) with 95% CI`,
        xLabel: "generation",
        yLabel: `P(${r.target}) ratio, log scale`,
        log: true,
        series,
    });
}

const modes = (r: ChainResults) => [...new Set(r.generations.map((g) => g.mode))];

export function writeChainReport(r: ChainResults, dir: string): { json: string; md: string; html: string } {
    const trend = r.trends.length
        ? [
              {
                  md: `## Does the trait fade, hold or grow?\n\n${mdTable(TREND_HEADERS, trendRows(r))}`,
                  html: `<h2>Does the trait fade, hold or grow?</h2>\n${htmlTable(TREND_HEADERS, trendRows(r))}`,
              },
          ]
        : [];
    return writeStudyReport(dir, r, {
        title: `Chain ${r.chain}`,
        description: r.description,
        head: head(r),
        sections: [{ md: "", html: transferChart(r) + chainChart(r) }, { md: mdTable(headers(r), rows(r)), html: htmlTable(headers(r), rows(r)) }, ...trend],
        howToRead: HOW_TO_READ,
        seconds: r.seconds,
        version: r.sublabVersion,
    });
}
