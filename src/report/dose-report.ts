/**
 * A dose study's section (a study whose one axis sets student.mix): transfer against the share of the teacher's
 * rows, each dose with its interval and verdict, the slope and threshold fits (src/stats/dose.ts), and a chart.
 */
import type { StudyResults } from "../core/results.ts";
import { thresholdAt, type DoseFit } from "../stats/dose.ts";
import { axisFrame } from "./charts.ts";
import { escapeHtml, fmtCI, fmtLog, fmtP, htmlTable, mdTable, r1 } from "./fmt.ts";

const pct = (f: number) => `${Number((100 * f).toPrecision(3))}%`;

/** The fits in words: each shape's parameters, which fits better and by how much. */
export function doseLines(fit: DoseFit): string[] {
    const t = fit.threshold;
    const better =
        fit.shape === "threshold"
            ? `the logistic fits better (AICc lower by ${fit.deltaAicc.toFixed(1)}) with its midpoint inside the doses: a threshold`
            : fit.shape === "saturating"
              ? `the logistic fits better (AICc lower by ${fit.deltaAicc.toFixed(1)}), but its midpoint is below the smallest dose: a saturating rise, steepest at the smallest doses, not a threshold`
              : fit.shape === "slope"
                ? `the slope fits better (AICc lower by ${(-fit.deltaAicc).toFixed(1)})`
                : `neither shape fits better (AICc differ by ${Math.abs(fit.deltaAicc).toFixed(1)}, under 2)`;
    return [
        `slope: transfer = ${fit.slope.b.toFixed(3)} x f`,
        `logistic: rises to ${fmtLog(t.top)} around a midpoint of ${pct(t.mid)} [${pct(t.midCi95[0])}, ${pct(t.midCi95[1])}] (bootstrap over seeds, ${fit.resamples} resamples), width ${pct(t.width)}`,
        better,
    ];
}

const HEADERS = ["dose f", "log-ratio [95% CI]", "verdict", "p", "p adj (Holm)"];

function rows(r: StudyResults): string[][] {
    return r.cells.map((c) => [
        c.dose === undefined ? "" : pct(c.dose),
        `${fmtLog(c.transfer.meanLogRatio)} ${fmtCI(c.transfer.ci95, fmtLog)}`,
        c.transfer.verdict?.text ?? "",
        fmtP(c.transfer.pValue),
        c.transfer.verdict ? fmtP(c.transfer.verdict.pAdjusted) : "",
    ]);
}

/** Transfer against dose on a square-root axis (the small doses spread out), with both fitted curves. */
export function doseChart(r: StudyResults, fit: DoseFit): string {
    const W = 720;
    const H = 380;
    const m = { left: 72, right: 170, top: 28, bottom: 48 };
    const [pw, ph] = [W - m.left - m.right, H - m.top - m.bottom];
    const cells = r.cells.filter((c) => c.dose !== undefined);
    const ys = cells.flatMap((c) => [c.transfer.meanLogRatio, c.transfer.ci95[0], c.transfer.ci95[1]]).filter(Number.isFinite);
    const [lo, hi] = [Math.min(0, ...ys), Math.max(0, ...ys)];
    const pad = (hi - lo || 1) * 0.08;
    const [y0, y1] = [lo - pad, hi + pad];
    const x = (f: number) => m.left + Math.sqrt(f) * pw;
    const y = (v: number) => m.top + ph * (1 - (v - y0) / (y1 - y0));
    const curve = (g: (f: number) => number) =>
        Array.from({ length: 101 }, (_, k) => (k / 100) ** 2)
            .map((f, k) => `${k ? "L" : "M"}${r1(x(f))} ${r1(y(g(f)))}`)
            .join(" ");
    const parts = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="transfer against dose">`,
        `<text x="${m.left}" y="16" class="title">${escapeHtml(`Transfer toward ${r.target} against the share of the teacher's rows`)}</text>`,
        `<line x1="${m.left}" x2="${m.left + pw}" y1="${r1(y(0))}" y2="${r1(y(0))}" class="grid"/>`,
        ...cells.map((c) => `<text x="${r1(x(c.dose!))}" y="${m.top + ph + 18}" text-anchor="middle" class="tick">${pct(c.dose!)}</text>`),
        ...[y0, 0, y1].map((v) => `<text x="${m.left - 6}" y="${r1(y(v) + 4)}" text-anchor="end" class="tick">${fmtLog(v)}</text>`),
        ...axisFrame(m, pw, ph, H, "dose f (square-root axis)", "log-ratio, treated over control"),
        `<path d="${curve((f) => fit.slope.b * f)}" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="5 4"/>`,
        `<path d="${curve((f) => thresholdAt(fit, f))}" fill="none" stroke="#c0392b" stroke-width="1.5"/>`,
    ];
    for (const c of cells) {
        const [a, b] = c.transfer.ci95;
        if (Number.isFinite(a) && Number.isFinite(b))
            parts.push(`<line x1="${r1(x(c.dose!))}" x2="${r1(x(c.dose!))}" y1="${r1(y(a))}" y2="${r1(y(b))}" stroke="#2c3e50"/>`);
        const moved = c.transfer.verdict?.word === "moved toward";
        parts.push(
            `<circle cx="${r1(x(c.dose!))}" cy="${r1(y(c.transfer.meanLogRatio))}" r="4" fill="${moved ? "#2c3e50" : "#fff"}" stroke="#2c3e50"><title>${escapeHtml(`${pct(c.dose!)}: ${fmtLog(c.transfer.meanLogRatio)}, ${c.transfer.verdict?.text ?? ""}`)}</title></circle>`,
        );
    }
    const legend: [string, string][] = [
        ["#2c3e50", "dose (filled: moved)"],
        ["#c0392b", "logistic fit"],
        ["#888", "slope fit"],
    ];
    legend.forEach(([colour, name], k) =>
        parts.push(
            `<line x1="${m.left + pw + 14}" x2="${m.left + pw + 34}" y1="${m.top + 8 + k * 18}" y2="${m.top + 8 + k * 18}" stroke="${colour}" stroke-width="2"/>`,
            `<text x="${m.left + pw + 40}" y="${m.top + 12 + k * 18}" class="tick">${escapeHtml(name)}</text>`,
        ),
    );
    parts.push("</svg>");
    return parts.join("\n");
}

/** The section: chart, table and the fits in words (markdown and HTML). */
export function doseSection(r: StudyResults): { md: string; html: string } | null {
    if (!r.dose) return null;
    const lines = doseLines(r.dose);
    const md = `### Dose-response\n\n${mdTable(HEADERS, rows(r))}\n\n${lines.map((l) => `- ${l}`).join("\n")}\n`;
    const html = `<h2>Dose-response</h2>\n${doseChart(r, r.dose)}\n${htmlTable(HEADERS, rows(r))}\n<ul>${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join("")}</ul>`;
    return { md, html };
}
