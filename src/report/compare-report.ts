/**
 * `sublab compare RUN...`: finished runs side by side (one experiment on several bases, targets or recipes). Each
 * run's three controlled comparisons, treated vs control, cross vs cross-control and in-context vs
 * in-context-control, as a table (ratio of means, mean log-ratio with its interval, p, the target's rank) and as a
 * forest chart of the log-ratios with their intervals, a line at 0 (no transfer) and one at x2.
 *
 * A run is its directory (runs/<name>/) or its results.json; sweeps, studies, chains and the other kinds of
 * results are refused by name, since they have their own reports.
 */
import fs from "node:fs";
import path from "node:path";
import type { ComparisonResult, Results } from "../core/results.ts";
import { escapeHtml, fixedWidth, fmtCI, fmtLog, fmtP, fmtProb, fmtRatio, htmlTable, mdTable, r1, writeStudyReport } from "./report-files.ts";
import { verdictWords } from "./verdict-lines.ts";
import { reviveIntervals } from "../core/verdicts.ts";

/** The comparisons a run's verdict rests on, in the order the table and chart show them. */
export const COMPARED = ["treated vs control", "cross vs cross-control", "in-context vs in-context-control"] as const;
type Compared = (typeof COMPARED)[number];

export interface CompareRun {
    /** The path the run was read from. */
    source: string;
    experiment: string;
    base: string;
    target: string;
    /** The base model's mean P(target), or null when the run has no base arm. */
    baseProb: number | null;
    seconds: number;
    comparisons: Partial<Record<Compared, ComparisonResult>>;
}

export interface CompareResults {
    compare: true;
    sublabVersion: string;
    createdAt: string;
    runs: CompareRun[];
}

/** Other results kinds and the key that tells them apart, for the error that refuses them. */
const OTHER_KINDS: [string, string][] = [
    ["sweep", "a sweep's"],
    ["study", "a recipe study's"],
    ["chain", "a chain's"],
    ["population", "a population's"],
    ["compare", "a comparison's"],
];

/** Reads one run: a directory holding results.json, or the file itself. Errors name the path and what is wrong. */
export function loadRun(arg: string): { file: string; results: Results } {
    const file = fs.existsSync(arg) && fs.statSync(arg).isDirectory() ? path.join(arg, "results.json") : arg;
    if (!fs.existsSync(file))
        throw new Error(
            `${arg}: no ${file === arg ? "such file" : "results.json in this directory"} (give a run's directory, runs/<name>, or its results.json)`,
        );
    let raw: unknown;
    try {
        raw = JSON.parse(fs.readFileSync(file, "utf8"), reviveIntervals);
    } catch (e) {
        throw new Error(`${file}: not JSON (${(e as Error).message})`);
    }
    if (!raw || typeof raw !== "object") throw new Error(`${file}: not a run's results (expected an object)`);
    const o = raw as Record<string, unknown>;
    for (const [key, kind] of OTHER_KINDS) if (key in o) throw new Error(`${file}: ${kind} results, not a run's; \`sublab report ${file}\` renders it`);
    if (!Array.isArray(o.arms) || !Array.isArray(o.comparisons) || typeof o.target !== "string")
        throw new Error(`${file}: not a run's results (no arms, comparisons and target)`);
    const results = raw as Results;
    if (!results.comparisons.some((c) => c.name === COMPARED[0])) throw new Error(`${file}: has no "${COMPARED[0]}" comparison`);
    return { file, results };
}

export function compareRuns(args: readonly string[], version: string): CompareResults {
    if (args.length === 0) throw new Error("sublab compare: give at least one run (runs/<name> or its results.json)");
    const runs = args.map((arg): CompareRun => {
        const { file, results } = loadRun(arg);
        const base = results.arms.find((a) => a.arm === "base");
        const comparisons: CompareRun["comparisons"] = {};
        for (const name of COMPARED) {
            const c = results.comparisons.find((x) => x.name === name);
            if (c) comparisons[name] = c;
        }
        return {
            source: file,
            experiment: results.experiment,
            base: path.basename(results.config.models.base),
            target: results.target,
            baseProb: base ? base.targetProb.mean : null,
            seconds: results.seconds,
            comparisons,
        };
    });
    return { compare: true, sublabVersion: version, createdAt: new Date().toISOString(), runs };
}

const cell = (c: ComparisonResult | undefined) =>
    c
        ? `${verdictWords(c.verdict)}: x${fmtRatio(c.probRatio)}, ${fmtLog(c.meanLogRatio)} ${fmtCI(c.ci95, fmtLog)}, p ${fmtP(c.pValue)}, adj ${c.verdict ? fmtP(c.verdict.pAdjusted) : "-"}, rank ${c.targetRank}`
        : "-";

/** Shown on the chart as a filled dot: the verdict moved (results from before verdicts: a raw p below 0.05, marked as such in the legend). */
const moved = (c: ComparisonResult) => (c.verdict ? c.verdict.word === "moved toward" || c.verdict.word === "moved away" : c.pValue < 0.05);

const HEADERS = ["run", "base", "target", "base P", "treated / control", "cross / cross-control", "in-context / control"];

function rows(r: CompareResults): string[][] {
    return r.runs.map((run) => [
        run.experiment,
        run.base,
        run.target,
        run.baseProb === null ? "-" : fmtProb(run.baseProb),
        ...COMPARED.map((k) => cell(run.comparisons[k])),
    ]);
}

export function compareTable(r: CompareResults): string {
    return `${r.runs.length} runs; each cell: the verdict (Holm within each run's family), ratio of mean P(target), mean log-ratio [95% CI], raw and adjusted two-sided p, the target's rank\n\n${fixedWidth(HEADERS, rows(r))}\n`;
}

const COLOURS: Record<Compared, string> = {
    "treated vs control": "#c4500f",
    "cross vs cross-control": "#3a6ea5",
    "in-context vs in-context-control": "#6b8e23",
};

/** Forest chart: one band per run, a dot and interval per comparison (filled when its verdict moved), lines at 0 and x2. */
export function compareChart(r: CompareResults): string {
    const all = r.runs
        .flatMap((run) => COMPARED.flatMap((k) => (run.comparisons[k] ? [...run.comparisons[k]!.ci95, run.comparisons[k]!.meanLogRatio] : [])))
        .filter(Number.isFinite);
    const lo = Math.min(-0.5, ...all) - 0.05;
    const hi = Math.max(Math.log(2) + 0.2, ...all) + 0.05;
    const m = { left: 230, right: 20, top: 40 };
    const plotW = 520;
    const band = 14 * COMPARED.length + 10;
    const W = m.left + plotW + m.right;
    const H = m.top + band * r.runs.length + 56;
    const x = (v: number) => m.left + ((v - lo) / (hi - lo)) * plotW;
    const bottom = m.top + band * r.runs.length;
    const parts = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="transfer per run">`,
        `<text x="${m.left}" y="16" class="title">Mean log-ratio of P(target), each arm over its control [95% interval]</text>`,
        // Every other run's band shaded first, so the reference lines and the intervals draw over it.
        ...r.runs.flatMap((_, i) => (i % 2 === 1 ? [`<rect x="0" y="${m.top + i * band}" width="${W}" height="${band}" fill="#f4f4f4"/>`] : [])),
        `<line x1="${r1(x(0))}" y1="${m.top - 6}" x2="${r1(x(0))}" y2="${bottom}" stroke="#888"/>`,
        `<line x1="${r1(x(Math.log(2)))}" y1="${m.top - 6}" x2="${r1(x(Math.log(2)))}" y2="${bottom}" stroke="#888" stroke-dasharray="4 3"/>`,
        `<text x="${r1(x(0))}" y="${m.top - 10}" text-anchor="middle" class="tick">0 (none)</text>`,
        `<text x="${r1(x(Math.log(2)))}" y="${m.top - 10}" text-anchor="middle" class="tick">x2</text>`,
    ];
    for (let t = Math.ceil(lo * 2) / 2; t <= hi; t += 0.5)
        parts.push(`<text x="${r1(x(t))}" y="${bottom + 14}" text-anchor="middle" class="tick">${t.toFixed(1)}</text>`);
    r.runs.forEach((run, i) => {
        const y0 = m.top + i * band;
        parts.push(
            `<text x="${m.left - 8}" y="${r1(y0 + band / 2 + 4)}" text-anchor="end" class="tick">${escapeHtml(`${run.experiment} (${run.base.replace(/\.gguf$/, "")}, ${run.target})`)}</text>`,
        );
        COMPARED.forEach((k, j) => {
            const c = run.comparisons[k];
            if (!c) return;
            const y = y0 + 9 + j * 14;
            const fill = moved(c) ? COLOURS[k] : "#fff";
            parts.push(
                `<g><title>${escapeHtml(`${run.experiment}, ${k}: ${cell(c)}`)}</title>`,
                `<line x1="${r1(x(Math.max(lo, c.ci95[0])))}" y1="${y}" x2="${r1(x(Math.min(hi, c.ci95[1])))}" y2="${y}" stroke="${COLOURS[k]}" stroke-width="2"/>`,
                `<circle class="dot" cx="${r1(x(c.meanLogRatio))}" cy="${y}" r="4" fill="${fill}" stroke="${COLOURS[k]}" stroke-width="2"/></g>`,
            );
        });
    });
    COMPARED.forEach((k, j) => {
        const lx = m.left + j * 175;
        parts.push(
            `<circle cx="${lx + 5}" cy="${bottom + 32}" r="4" fill="${COLOURS[k]}"/>`,
            `<text x="${lx + 13}" y="${bottom + 36}" class="tick">${escapeHtml(k.split(" vs ")[0]!)}</text>`,
        );
    });
    parts.push(
        `<text x="${m.left}" y="${bottom + 52}" class="tick">filled: moved (Holm-adjusted two-sided p &lt; alpha, permutation test over students); hollow: not</text>`,
        "</svg>",
    );
    return parts.join("\n");
}

const HOW_TO_READ =
    "Each run is one experiment with its own controls. treated: students of the base on the teacher's data against students on the " +
    "control's; cross: students of the other base on the same two datasets; in-context: the data as earlier chat turns, no training. " +
    "ratio: of mean P(target); log-ratio: mean over questions and paired seeds, bootstrap 95% interval; p: one-sided permutation test " +
    "over students; rank: the target among the category's items by how much it moved (1 = most).";

export function writeCompareReport(r: CompareResults, dir: string): { json: string; md: string; html: string } {
    return writeStudyReport(dir, r, {
        title: "Runs compared",
        description: r.runs.map((run) => run.source).join(", "),
        head: `${r.runs.length} runs, ${(r.runs.reduce((s, run) => s + run.seconds, 0) / 60).toFixed(1)} min of runs in all`,
        sections: [
            { md: "", html: compareChart(r) },
            { md: mdTable(HEADERS, rows(r)), html: htmlTable(HEADERS, rows(r)) },
        ],
        howToRead: HOW_TO_READ,
        seconds: 0,
        version: r.sublabVersion,
    });
}
