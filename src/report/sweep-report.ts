/**
 * A sweep's report: a terminal table, report.md, and report.html with a chart of transfer (mean log-ratio of
 * P(target), treated over control, with its 95% interval) against the share of the teacher's data each arm kept.
 */
import { defenderLine } from "./defender-report.ts";
import {
    count,
    escapeHtml,
    fixedWidth,
    fmtCI,
    fmtLog,
    fmtP,
    fmtPercent,
    fmtProb,
    fmtRatio,
    htmlPage,
    htmlTable,
    mdEscape,
    mdTable,
    r1,
    writeReportFiles,
} from "./report-files.ts";
import type { SweepArmResult, SweepResults } from "../core/results.ts";
import { DEFAULT_STATS } from "../core/verdicts.ts";
import { designNote, VERDICT_HEADERS, verdictCells, verdictRules } from "./verdict-lines.ts";

const HEADERS = [
    "arm",
    "kept",
    "P(target) treated",
    "P(target) control",
    "ratio",
    "log-ratio [95% CI]",
    ...VERDICT_HEADERS,
    "rank",
    "transfer left",
    "against no defense",
    "p adj (less)",
];

function rows(r: SweepResults): string[][] {
    return r.arms.map((a) => [
        a.name,
        fmtPercent(a.keptShare),
        fmtProb(a.treated.targetProb.mean),
        fmtProb(a.control.targetProb.mean),
        `x${fmtRatio(a.transfer.probRatio)}`,
        `${fmtLog(a.transfer.meanLogRatio)} ${fmtCI(a.transfer.ci95, fmtLog)}`,
        ...verdictCells(a.transfer.verdict, a.transfer.pValue),
        `${a.transfer.targetRank}/${r.items.length}`,
        a.reduction ? fmtPercent(a.reduction.left) : "reference",
        a.reduction ? (a.reduction.verdict?.text ?? "-") : "-",
        a.reduction ? (a.reduction.verdict ? fmtP(a.reduction.verdict.pAdjusted) : fmtP(a.reduction.pValue)) : "-",
    ]);
}

const STAGE_HEADERS = ["arm", "data", "stage", "in", "kept", "pass rate", "reasons", "figures"];

function stageRows(r: SweepResults): string[][] {
    const out: string[][] = [];
    for (const a of r.arms) {
        for (const role of ["teacher", "control"] as const) {
            for (const s of a.datasets[role].stages) {
                const reasons = Object.entries(s.reasons)
                    .sort((x, y) => y[1] - x[1])
                    .slice(0, 3)
                    .map(([k, n]) => `${k}: ${n}`)
                    .join(", ");
                const stats = Object.entries(s.stats ?? {})
                    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toPrecision(3)}`)
                    .join(", ");
                out.push([a.name, role, s.stage, String(s.in), String(s.kept), fmtPercent(s.passRate), reasons || "-", stats || "-"]);
            }
        }
    }
    return out;
}

const HOW_TO_READ =
    "Each arm trains students on the teacher's numbers (treated) and on the base's numbers (control), both after the arm's " +
    "filters and defenses, one pair per seed on the same prompts. kept: share of the teacher's generated rows left for training " +
    "(format filter and defenses). log-ratio: the treated students' mean log P(target) minus the controls', with the permutation " +
    "test's own 95% interval; its verdict is drawn over the sweep's arms (Holm). rank: the target's place among all items by shift " +
    "(1 = moved most). transfer left: the arm's mean per-seed log-ratio over the reference arm's (the arm without defenses); " +
    "against no defense: the verdict of a permutation test over seeds of the reference's per-seed transfers against the arm's, " +
    'Holm over the defenses: "removed some transfer" needs its adjusted p below alpha, "removed no more than" an equivalence ' +
    'test. A defense stops transfer only where its own verdict is "no shift larger than"; "can\'t tell" is not proof of none. ';

const howToRead = (r: SweepResults) => HOW_TO_READ + verdictRules((r.experiment.stats ?? DEFAULT_STATS).alpha, (r.experiment.stats ?? DEFAULT_STATS).margin);

export function sweepTable(r: SweepResults): string {
    const head = `${r.sweep}: target ${r.target}; base P = ${fmtProb(r.base.targetProb.mean)}, teacher P = ${fmtProb(r.teacher.targetProb.mean)}; ${r.experiment.student.seeds} seeds x ${r.experiment.student.rows} rows per student`;
    return `${head}\n\n${fixedWidth(HEADERS, rows(r))}\n${designNote(r.design)}`;
}

export function sweepMarkdown(r: SweepResults): string {
    const out = [`# sublab sweep: ${mdEscape(r.sweep)}`, ""];
    if (r.description) out.push(mdEscape(r.description), "");
    out.push(
        `- **target**: ${r.target}; base P(target) ${fmtProb(r.base.targetProb.mean)}, teacher ${fmtProb(r.teacher.targetProb.mean)}`,
        `- **students**: ${r.experiment.student.method}, ${r.experiment.student.labels} labels, ${r.experiment.student.seeds} seeds x ${r.experiment.student.rows} rows, ${count(r.experiment.student.epochs, "epoch")}, lr ${r.experiment.student.lr}`,
        `- **run**: ${(r.seconds / 60).toFixed(1)} min, sublab ${r.sublabVersion}, started ${r.startedAt}`,
        ...(r.defender ?? []).flatMap((u) => (u.quality ? [`- **defender**: ${mdEscape(defenderLine(u.quality, u, r.experiment.teacher.category))}`] : [])),
        "",
        "## Transfer per arm",
        "",
        mdTable(HEADERS, rows(r)),
        "",
        "## What each stage kept",
        "",
        mdTable(STAGE_HEADERS, stageRows(r)),
        "",
        "## How to read this",
        "",
        howToRead(r),
        "",
        "- [report.html](report.html): the chart of transfer against kept data",
        "- [results.json](results.json): every number, per question and per student",
        "",
    );
    return out.join("\n");
}

/** Transfer (mean log-ratio with its 95% interval) against the share of data kept, one point per arm. */
export function sweepChart(r: SweepResults): string {
    const W = 720;
    const H = 380;
    const m = { l: 64, r: 180, t: 16, b: 48 };
    const arms = r.arms;
    const ys = arms.flatMap((a) => [a.transfer.ci95[0], a.transfer.ci95[1], a.transfer.meanLogRatio]).filter(Number.isFinite);
    let lo = Math.min(0, ...ys);
    let hi = Math.max(0, ...ys);
    const pad = (hi - lo) * 0.08 || 0.1;
    lo -= pad;
    hi += pad;
    // The x axis spans the kept shares (to 100%), in steps of 10%, so that arms near each other stay apart.
    const x0 = Math.max(0, Math.floor((Math.min(...arms.map((a) => a.keptShare)) - 0.05) * 10) / 10);
    const x = (v: number) => m.l + 12 + ((v - x0) / (1 - x0)) * (W - m.l - m.r - 60);
    const y = (v: number) => m.t + ((hi - v) / (hi - lo)) * (H - m.t - m.b);
    const parts: string[] = [];
    for (let k = Math.round(x0 * 10); k <= 10; k++) {
        const v = k / 10;
        parts.push(`<line x1="${r1(x(v))}" y1="${m.t}" x2="${r1(x(v))}" y2="${H - m.b}" class="grid"/>`);
        parts.push(`<text x="${r1(x(v))}" y="${H - m.b + 16}" text-anchor="middle">${k * 10}%</text>`);
    }
    const step = niceStep((hi - lo) / 5);
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
        parts.push(`<line x1="${m.l}" y1="${r1(y(v))}" x2="${W - m.r}" y2="${r1(y(v))}" class="grid"/>`);
        parts.push(`<text x="${m.l - 6}" y="${r1(y(v) + 4)}" text-anchor="end">${Number(v.toPrecision(2))}</text>`);
    }
    parts.push(`<line x1="${m.l}" y1="${r1(y(0))}" x2="${W - m.r}" y2="${r1(y(0))}" stroke="#444" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${W - m.r + 4}" y="${r1(y(0) + 4)}">no transfer</text>`);
    const colours = ["#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#2c3e50", "#b7950b", "#e84393", "#00838f", "#6d4c41"];
    arms.forEach((a: SweepArmResult, k) => {
        const c = colours[k % colours.length];
        // Arms that kept the same share (filters that removed nothing) stand side by side, not on top of each other.
        const before = arms.slice(0, k).filter((o) => Math.abs(o.keptShare - a.keptShare) < 0.005).length;
        const px = x(a.keptShare) + 7 * before;
        const [l, h] = a.transfer.ci95.map((v) => Math.min(hi, Math.max(lo, v)));
        parts.push(`<line x1="${r1(px)}" y1="${r1(y(l))}" x2="${r1(px)}" y2="${r1(y(h))}" stroke="${c}" stroke-width="2"/>`);
        parts.push(
            `<circle cx="${r1(px)}" cy="${r1(y(a.transfer.meanLogRatio))}" r="4.5" fill="${c}"><title>${escapeHtml(`${a.name}: kept ${fmtPercent(a.keptShare)}, log-ratio ${fmtLog(a.transfer.meanLogRatio)} ${fmtCI(a.transfer.ci95, fmtLog)}, p ${fmtP(a.transfer.pValue)}`)}</title></circle>`,
        );
        parts.push(`<rect x="${W - m.r + 8}" y="${m.t + 22 + 18 * k}" width="10" height="10" fill="${c}"/>`);
        parts.push(`<text x="${W - m.r + 24}" y="${m.t + 31 + 18 * k}">${escapeHtml(a.name)}</text>`);
    });
    parts.push(`<text x="${r1((m.l + W - m.r) / 2)}" y="${H - 10}" text-anchor="middle">share of the teacher's rows kept</text>`);
    parts.push(
        `<text transform="translate(16 ${r1((m.t + H - m.b) / 2)}) rotate(-90)" text-anchor="middle">log P(${escapeHtml(r.target)}) treated - control</text>`,
    );
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" class="chart" role="img" aria-label="transfer against kept data">\n${parts.join("\n")}\n</svg>`;
}

function niceStep(raw: number): number {
    const p = 10 ** Math.floor(Math.log10(raw));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

export function sweepHtml(r: SweepResults): string {
    const title = `sublab sweep: ${r.sweep}`;
    const body = [
        `<h1>${escapeHtml(title)}</h1>`,
        r.description ? `<p>${escapeHtml(r.description)}</p>` : "",
        `<pre class="terminal">${escapeHtml(sweepTable(r))}</pre>`,
        `<h2>Transfer against kept data</h2>`,
        sweepChart(r),
        `<h2>What each stage kept</h2>`,
        htmlTable(STAGE_HEADERS, stageRows(r)),
        `<h2>How to read this</h2>`,
        `<p>${escapeHtml(howToRead(r))}</p>`,
        `<p>Every number is in <a href="results.json">results.json</a>.</p>`,
    ].join("\n");
    return htmlPage(title, body);
}

export function writeSweepReport(r: SweepResults, dir: string): { json: string; md: string; html: string } {
    return writeReportFiles(dir, r, sweepMarkdown(r), sweepHtml(r));
}
