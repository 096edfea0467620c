/**
 * A recipe study's report: a table of every cell (treated and control P(target), ratio, interval, p, rank) and
 * a heatmap of transfer: the axes' values as columns (one row per axis), or for a two-axis product grid the first
 * axis down and the second across; each cell coloured by its mean log ratio, with the ratio and its interval.
 */
import type { StudyCellResult, StudyResults } from "../core/results.ts";
import { escapeHtml, fixedWidth, fmtCI, fmtLog, fmtP, fmtProb, fmtRatio, htmlTable, mdTable, r1, writeStudyReport } from "./report-files.ts";
import { designNote, VERDICT_HEADERS, verdictCells } from "./verdict-lines.ts";
import { doseLines, doseSection } from "./dose-report.ts";

const HEADERS = ["cell", "recipe", "P(target) treated", "P(target) control", "ratio", "log-ratio [95% CI]", ...VERDICT_HEADERS, "rank", "s per student"];

/** A cell whose shift passed the study's correction (results from before verdicts: its raw p). */
const shown = (tr: StudyCellResult["transfer"]) => (tr.verdict ? tr.verdict.word === "moved toward" || tr.verdict.word === "moved away" : tr.pValue < 0.05);

const cellName = (c: StudyCellResult) =>
    Object.entries(c.labels)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ");

function rows(r: StudyResults): string[][] {
    return r.cells.map((c) => [
        cellName(c),
        c.recipe,
        `${fmtProb(c.treated.targetProb.mean)} ${fmtCI(c.treated.targetProb.ci95)}`,
        `${fmtProb(c.control.targetProb.mean)} ${fmtCI(c.control.targetProb.ci95)}`,
        `x${fmtRatio(c.transfer.probRatio)}`,
        `${fmtLog(c.transfer.meanLogRatio)} ${fmtCI(c.transfer.ci95, fmtLog)}`,
        ...verdictCells(c.transfer.verdict, c.transfer.pValue),
        `${c.transfer.targetRank}/${r.items.length}`,
        c.studentSeconds === undefined ? "-" : c.studentSeconds.toFixed(0),
    ]);
}

function head(r: StudyResults): string {
    const e = r.experiment;
    return (
        `${r.study}: target ${r.target}; ${r.cells.length} cells (${r.grid === "axes" ? "one axis at a time" : "every combination"}), ${e.student.seeds} seeds per arm; ` +
        `base P = ${fmtProb(r.base.targetProb.mean)}, teacher P = ${fmtProb(r.teacher.targetProb.mean)}`
    );
}

export function studyTable(r: StudyResults): string {
    const dose = r.dose ? `\ndose-response: ${doseLines(r.dose).join("; ")}\n` : "";
    return `${head(r)}\n\n${fixedWidth(
        HEADERS.filter((h) => h !== "recipe"),
        rows(r).map((x) => x.filter((_, k) => k !== 1)),
    )}\n${dose}${designNote(r.design)}`;
}

/** The saturation of the heatmap's colour: a ratio of 2 (or 1/2). */
const SATURATION = Math.log(2);

function colour(d: number): string {
    const t = Math.max(-1, Math.min(1, d / SATURATION));
    const mix = (a: number, b: number) => Math.round(a + (b - a) * Math.abs(t));
    return t >= 0 ? `rgb(${mix(255, 196)},${mix(255, 80)},${mix(255, 15)})` : `rgb(${mix(255, 58)},${mix(255, 110)},${mix(255, 165)})`;
}

/** The heatmap's layout: row and column labels and where each cell goes. */
function layout(r: StudyResults): { rows: string[]; cols: string[]; at: (c: StudyCellResult) => [number, number] } {
    if (r.grid === "product" && r.axes.length === 2) {
        const [a, b] = r.axes as [StudyResults["axes"][number], StudyResults["axes"][number]];
        return {
            rows: a.labels.map((l) => `${a.name}: ${l}`),
            cols: b.labels.map((l) => `${b.name}: ${l}`),
            at: (c) => [a.labels.indexOf(c.labels[a.name]!), b.labels.indexOf(c.labels[b.name]!)],
        };
    }
    if (r.grid === "axes") {
        const width = Math.max(...r.axes.map((a) => a.labels.length));
        return {
            rows: r.axes.map((a) => a.name),
            cols: Array.from({ length: width }, () => ""),
            at: (c) => {
                const [axis, label] = Object.entries(c.labels)[0]!;
                const k = r.axes.findIndex((a) => a.name === axis);
                return [k, r.axes[k]!.labels.indexOf(label)];
            },
        };
    }
    return { rows: r.cells.map(cellName), cols: [""], at: (c) => [r.cells.indexOf(c), 0] };
}

/** A cell's own label cut to fit its width (the whole label is in the cell's tooltip and the table). */
const clip = (label: string, max = 22) => (label.length > max ? `${label.slice(0, max - 1)}…` : label);

/** Transfer per cell: colour by mean log ratio (orange toward the target, blue away), text ratio, interval and p. */
export function studyHeatmap(r: StudyResults): string {
    const L = layout(r);
    const [cw, ch] = [150, 58];
    const m = { left: 130, top: 40 };
    const title = `Transfer per recipe: log-ratio of treated over control P(${r.target}) [95% interval]; ratio of means, p`;
    // Wide enough for the grid, the title and the legend (about 7.5 px a character at the chart's type).
    const W = Math.round(Math.max(m.left + cw * L.cols.length + 16, m.left + 8 + title.length * 7.5));
    const H = m.top + ch * L.rows.length + 30;
    const parts = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="transfer per cell">`,
        `<text x="${m.left}" y="16" class="title">${escapeHtml(title)}</text>`,
    ];
    L.cols.forEach(
        (col, j) => col && parts.push(`<text x="${r1(m.left + j * cw + cw / 2)}" y="${m.top - 6}" text-anchor="middle" class="tick">${escapeHtml(col)}</text>`),
    );
    L.rows.forEach((row, i) =>
        parts.push(`<text x="${m.left - 6}" y="${r1(m.top + i * ch + ch / 2 + 4)}" text-anchor="end" class="tick">${escapeHtml(row)}</text>`),
    );
    for (const c of r.cells) {
        const [i, j] = L.at(c);
        const [x, y] = [m.left + j * cw, m.top + i * ch];
        const tr = c.transfer;
        const own = Object.values(c.labels).at(-1)!;
        // Light text where the colour is strong (past x1.6 or x0.6), dark elsewhere.
        const ink = Math.abs(tr.meanLogRatio) / SATURATION > 0.7 ? ' style="fill:#fff"' : "";
        parts.push(
            `<rect x="${x + 1}" y="${y + 1}" width="${cw - 2}" height="${ch - 2}" fill="${colour(tr.meanLogRatio)}" stroke="${shown(tr) ? "#000" : "#ccc"}" stroke-width="${shown(tr) ? 2 : 1}"><title>${escapeHtml(`${cellName(c)}: ${c.recipe}`)}</title></rect>`,
            ...(r.grid === "axes" ? [`<text x="${r1(x + cw / 2)}" y="${y + 15}" text-anchor="middle" class="tick"${ink}>${escapeHtml(clip(own))}</text>`] : []),
            // The interval is the log-ratio's (as in the table), not the ratio of means': they measure different things.
            `<text x="${r1(x + cw / 2)}" y="${y + (r.grid === "axes" ? 32 : 24)}" text-anchor="middle" class="tick"${ink}>${escapeHtml(fmtLog(tr.meanLogRatio))} ${escapeHtml(fmtCI(tr.ci95, fmtLog))}</text>`,
            `<text x="${r1(x + cw / 2)}" y="${y + (r.grid === "axes" ? 48 : 42)}" text-anchor="middle" class="tick"${ink}>x${escapeHtml(fmtRatio(tr.probRatio))}, p adj ${escapeHtml(fmtP(tr.verdict?.pAdjusted ?? tr.pValue))}</text>`,
        );
    }
    parts.push(
        `<text x="${m.left}" y="${H - 8}" class="tick">orange: toward ${escapeHtml(r.target)}, blue: away (full colour at x2 or x0.5); thick border: p &lt; 0.05</text>`,
        "</svg>",
    );
    return parts.join("\n");
}

const HOW_TO_READ =
    "Each cell is the study's experiment with the cell's settings: treated students learn from the teacher's data, control students " +
    "from the base's, on the same prompts, several seeds each. ratio: treated over control mean P(target); log-ratio: mean over questions " +
    "and paired seeds, bootstrap 95% interval; p: one-sided permutation test over students; rank: the target among the category's items " +
    'by how much the treated students moved toward it. Eval context "training": the questions are asked under the system prompt the ' +
    "students were trained with; otherwise with none.";

export function writeStudyResultsReport(r: StudyResults, dir: string): { json: string; md: string; html: string } {
    return writeStudyReport(dir, r, {
        title: `Recipe study: ${r.study}`,
        description: r.description,
        head: head(r),
        sections: [
            { md: "", html: studyHeatmap(r) },
            { md: mdTable(HEADERS, rows(r)), html: htmlTable(HEADERS, rows(r)) },
            ...(r.dose ? [doseSection(r)!] : []),
        ],
        howToRead: HOW_TO_READ,
        seconds: r.seconds,
        version: r.sublabVersion,
    });
}
