/** The run report's charts (inline SVG): P(target) per arm on a log axis, and the distribution shift of each item. */
import type { ArmResult, Results } from "../core/results.ts";
import { itemLogRatios, PROB_FLOOR } from "../stats/stats.ts";
import { escapeHtml, fmtCI, fmtLog, fmtProb, fmtRatio, r1 } from "./fmt.ts";

const armByName = (results: Results, name: string): ArmResult | undefined => results.arms.find((a) => a.arm === name);

export function tickLabel(v: number): string {
    return v >= 1e-3 ? String(Number(v.toPrecision(1))) : v.toExponential(0);
}

/**
 * A log axis from `min` to `max` (both > 0): bounds and ticks at 1, 2 and 5 times powers of ten when the data
 * span two decades or less, at powers of ten otherwise, so that a narrow band of values is not squeezed into a
 * corner of a many-decade axis. Returns log10 bounds.
 */
export function logAxis(min: number, max: number): { lo: number; hi: number; ticks: number[] } {
    const steps = [1, 2, 5];
    const below = (v: number, ms: number[]) => {
        const k = Math.floor(Math.log10(v) + 1e-9);
        for (const mult of [...ms].reverse()) if (mult * 10 ** k <= v * (1 + 1e-9)) return mult * 10 ** k;
        return 10 ** k;
    };
    const above = (v: number, ms: number[]) => {
        const k = Math.floor(Math.log10(v) + 1e-9);
        for (const mult of [...ms, 10]) if (mult * 10 ** k >= v * (1 - 1e-9)) return mult * 10 ** k;
        return 10 ** (k + 1);
    };
    let lower = below(min, steps);
    let upper = above(max, steps);
    if (upper <= lower) {
        lower = below(min / 1.5, steps);
        upper = above(max * 1.5, steps);
    }
    const decadesOnly = Math.log10(upper / lower) > 2 + 1e-9;
    if (decadesOnly) {
        lower = below(lower, [1]);
        upper = above(upper, [1]);
    }
    const ticks: number[] = [];
    for (let k = Math.floor(Math.log10(lower) + 1e-9); k <= Math.ceil(Math.log10(upper) - 1e-9); k++) {
        for (const mult of decadesOnly ? [1] : steps) {
            const t = mult * 10 ** k;
            if (t >= lower * (1 - 1e-9) && t <= upper * (1 + 1e-9)) ticks.push(t);
        }
    }
    return { lo: Math.log10(lower), hi: Math.log10(upper), ticks };
}

/** Chart (a): P(target) per arm, mean with 95% CI whiskers and each eval as a small dot, on a log axis. */
export function probChart(results: Results): string {
    const arms = results.arms;
    if (arms.length === 0) return "<p>No arms to chart.</p>";
    const W = 720;
    const H = 340;
    const m = { left: 72, right: 16, top: 28, bottom: 48 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;
    const values: number[] = [];
    for (const a of arms) {
        values.push(a.targetProb.mean, ...a.targetProb.ci95, ...a.evals.map((e) => e.targetProb));
    }
    const positive = values.filter((v) => Number.isFinite(v) && v > 0).map((v) => Math.max(v, PROB_FLOOR));
    const { lo, hi, ticks } = logAxis(positive.length ? Math.min(...positive) : 1e-3, positive.length ? Math.max(...positive) : 1);
    const y = (v: number) => m.top + (ph * (hi - Math.log10(Math.max(v, 10 ** lo)))) / (hi - lo);
    const x = (i: number) => m.left + ((i + 0.5) * pw) / arms.length;
    const parts: string[] = [];
    parts.push(
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="P(target) per arm">`,
        `<text x="${m.left}" y="16" class="title">P(target) per arm, mean and 95% CI; dots: one per evaluated model</text>`,
    );
    for (const t of ticks) {
        const ty = y(t);
        const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
        parts.push(
            `<line x1="${m.left}" x2="${W - m.right}" y1="${r1(ty)}" y2="${r1(ty)}" class="${major ? "grid" : "grid minor"}"/>`,
            `<text x="${m.left - 6}" y="${r1(ty + 4)}" text-anchor="end" class="tick">${escapeHtml(tickLabel(t))}</text>`,
        );
    }
    parts.push(
        `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" class="axis"/>`,
        `<text transform="translate(16 ${r1(m.top + ph / 2)}) rotate(-90)" text-anchor="middle" class="tick">P(target), log scale</text>`,
    );
    arms.forEach((a, i) => {
        const cx = x(i);
        const [cl, ch] = a.targetProb.ci95;
        const name = escapeHtml(a.arm);
        if (Number.isFinite(cl) && Number.isFinite(ch)) {
            parts.push(
                `<line x1="${r1(cx)}" x2="${r1(cx)}" y1="${r1(y(cl))}" y2="${r1(y(ch))}" class="whisker"/>`,
                `<line x1="${r1(cx - 6)}" x2="${r1(cx + 6)}" y1="${r1(y(cl))}" y2="${r1(y(cl))}" class="whisker"/>`,
                `<line x1="${r1(cx - 6)}" x2="${r1(cx + 6)}" y1="${r1(y(ch))}" y2="${r1(y(ch))}" class="whisker"/>`,
            );
        }
        const n = a.evals.length;
        const step = Math.min(5, 30 / Math.max(n, 1));
        a.evals.forEach((e, j) => {
            const label = `${a.arm}${e.seed === null ? "" : ` seed ${e.seed}`}: ${fmtProb(e.targetProb)}`;
            parts.push(`<circle cx="${r1(cx + 14 + j * step)}" cy="${r1(y(e.targetProb))}" r="2.5" class="seed"><title>${escapeHtml(label)}</title></circle>`);
        });
        if (Number.isFinite(a.targetProb.mean)) {
            const label = `${a.arm}: ${fmtProb(a.targetProb.mean)} ${fmtCI(a.targetProb.ci95)}`;
            parts.push(
                `<circle cx="${r1(cx)}" cy="${r1(y(a.targetProb.mean))}" r="5" class="${a.arm === "treated" ? "mean hl" : "mean"}"><title>${escapeHtml(label)}</title></circle>`,
            );
        }
        parts.push(`<text x="${r1(cx)}" y="${r1(m.top + ph + 18)}" text-anchor="middle" class="tick">${name}</text>`);
    });
    parts.push("</svg>");
    return parts.join("\n");
}

/** Which two arms the distribution chart contrasts: treated vs control when both exist, else the first comparison. */
function shiftArms(results: Results): [ArmResult, ArmResult] | null {
    const treated = armByName(results, "treated");
    const control = armByName(results, "control");
    if (treated && control) return [treated, control];
    for (const c of results.comparisons) {
        const a = armByName(results, c.a);
        const b = armByName(results, c.b);
        if (a && b) return [a, b];
    }
    return null;
}

/** Chart (b): for every item of the category, log(P_a / P_b) as a horizontal bar, sorted, the target highlighted. */
export function shiftChart(results: Results): string {
    const pair = shiftArms(results);
    if (!pair) return "<p>No pair of arms to compare.</p>";
    const [a, b] = pair;
    const ratios = itemLogRatios(a.evals, b.evals);
    if (ratios.length === 0) return "<p>No distributions to compare.</p>";
    const rows = ratios.map((r, i) => ({ name: results.items[i] ?? `#${i}`, r })).sort((p, q) => q.r - p.r);
    const rowH = 18;
    const W = 720;
    const m = { left: 110, right: 110, top: 30, bottom: 28 };
    const H = m.top + rows.length * rowH + m.bottom;
    const pw = W - m.left - m.right;
    const maxAbs = Math.max(1e-9, ...rows.map((row) => (Number.isFinite(row.r) ? Math.abs(row.r) : 0)));
    const zero = m.left + pw / 2;
    const sx = (v: number) => zero + (Math.max(-maxAbs, Math.min(maxAbs, v)) / maxAbs) * (pw / 2);
    const title = `log(P_${a.arm} / P_${b.arm}) per item, mean over paired evals; the target "${results.target}" highlighted`;
    const parts: string[] = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="distribution shift">`,
        `<text x="${m.left}" y="16" class="title">${escapeHtml(title)}</text>`,
    ];
    rows.forEach((row, i) => {
        const top = m.top + i * rowH;
        const isTarget = row.name === results.target;
        const v = Number.isFinite(row.r) ? row.r : 0;
        const x0 = Math.min(zero, sx(v));
        const w = Math.abs(sx(v) - zero);
        const valueText = `${v >= 0 ? "+" : ""}${fmtLog(v)} (x${fmtRatio(Math.exp(v))})`;
        parts.push(
            `<text x="${m.left - 6}" y="${r1(top + rowH * 0.7)}" text-anchor="end" class="${isTarget ? "tick target" : "tick"}">${escapeHtml(row.name)}</text>`,
            `<rect x="${r1(x0)}" y="${r1(top + 3)}" width="${r1(Math.max(w, 0.5))}" height="${rowH - 6}" class="${isTarget ? "bar hl" : "bar"}"><title>${escapeHtml(`${row.name}: ${valueText}`)}</title></rect>`,
            `<text x="${r1(v >= 0 ? sx(v) + 4 : sx(v) - 4)}" y="${r1(top + rowH * 0.7)}" text-anchor="${v >= 0 ? "start" : "end"}" class="${isTarget ? "value target" : "value"}">${escapeHtml(valueText)}</text>`,
        );
    });
    const axisY = m.top + rows.length * rowH;
    parts.push(
        `<line x1="${r1(zero)}" x2="${r1(zero)}" y1="${m.top}" y2="${axisY}" class="axis"/>`,
        `<line x1="${m.left}" x2="${W - m.right}" y1="${axisY}" y2="${axisY}" class="axis"/>`,
    );
    for (const t of [-maxAbs, -maxAbs / 2, 0, maxAbs / 2, maxAbs]) {
        parts.push(`<text x="${r1(sx(t))}" y="${axisY + 16}" text-anchor="middle" class="tick">${escapeHtml(fmtLog(t))}</text>`);
    }
    parts.push("</svg>");
    return parts.join("\n");
}

/** The left and bottom axes of a chart's plot area with their labels. */
export function axisFrame(m: { left: number; top: number }, pw: number, ph: number, H: number, xLabel: string, yLabel: string): string[] {
    return [
        `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" class="axis"/>`,
        `<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" class="axis"/>`,
        `<text x="${r1(m.left + pw / 2)}" y="${H - 8}" text-anchor="middle" class="tick">${escapeHtml(xLabel)}</text>`,
        `<text transform="translate(16 ${r1(m.top + ph / 2)}) rotate(-90)" text-anchor="middle" class="tick">${escapeHtml(yLabel)}</text>`,
    ];
}

/** One line of a line chart: points with optional 95% interval whiskers. */
export interface LineSeries {
    name: string;
    colour: string;
    dashed?: boolean;
    points: { x: number; y: number; lo?: number; hi?: number; note?: string }[];
}

/**
 * A line chart (inline SVG) of several series over integer x (generations, rounds), on a log axis (probabilities)
 * or a linear one from 0 (shares), with interval whiskers and a legend.
 */
export function lineChart(opts: { title: string; xLabel: string; yLabel: string; log: boolean; series: LineSeries[]; yMax?: number }): string {
    const W = 720;
    const H = 360;
    const m = { left: 72, right: 180, top: 28, bottom: 48 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;
    const pts = opts.series.flatMap((s) => s.points);
    if (pts.length === 0) return "<p>Nothing to chart.</p>";
    const xs = pts.map((p) => p.x);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const x = (v: number) => m.left + (x1 === x0 ? pw / 2 : ((v - x0) * pw) / (x1 - x0));
    let y: (v: number) => number;
    let ticks: number[];
    const values = pts.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]).filter(Number.isFinite);
    if (opts.log) {
        const positive = values.filter((v) => v > 0).map((v) => Math.max(v, PROB_FLOOR));
        const ax = logAxis(Math.min(...positive), Math.max(...positive));
        ticks = ax.ticks;
        y = (v: number) => m.top + (ph * (ax.hi - Math.log10(Math.max(v, 10 ** ax.lo)))) / (ax.hi - ax.lo);
    } else {
        const top = opts.yMax ?? Math.max(...values, 1e-9);
        ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * top);
        y = (v: number) => m.top + ph * (1 - v / top);
    }
    const parts: string[] = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(opts.title)}">`,
        `<text x="${m.left}" y="16" class="title">${escapeHtml(opts.title)}</text>`,
    ];
    for (const t of ticks) {
        parts.push(
            `<line x1="${m.left}" x2="${m.left + pw}" y1="${r1(y(t))}" y2="${r1(y(t))}" class="grid"/>`,
            `<text x="${m.left - 6}" y="${r1(y(t) + 4)}" text-anchor="end" class="tick">${escapeHtml(opts.log ? tickLabel(t) : String(Number(t.toPrecision(2))))}</text>`,
        );
    }
    for (let v = x0; v <= x1; v++) parts.push(`<text x="${r1(x(v))}" y="${r1(m.top + ph + 18)}" text-anchor="middle" class="tick">${v}</text>`);
    parts.push(...axisFrame(m, pw, ph, H, opts.xLabel, opts.yLabel));
    opts.series.forEach((s, k) => {
        const dash = s.dashed ? ` stroke-dasharray="5 4"` : "";
        const path = s.points.map((p, i) => `${i ? "L" : "M"}${r1(x(p.x))} ${r1(y(p.y))}`).join(" ");
        parts.push(`<path d="${path}" fill="none" stroke="${s.colour}" stroke-width="2"${dash}/>`);
        for (const p of s.points) {
            const jitter = (k - (opts.series.length - 1) / 2) * 3;
            const cx = r1(x(p.x) + jitter);
            if (p.lo !== undefined && p.hi !== undefined && Number.isFinite(p.lo) && Number.isFinite(p.hi)) {
                parts.push(`<line x1="${cx}" x2="${cx}" y1="${r1(y(p.lo))}" y2="${r1(y(p.hi))}" stroke="${s.colour}" stroke-width="1.2"/>`);
            }
            parts.push(
                `<circle cx="${cx}" cy="${r1(y(p.y))}" r="3.5" fill="${s.colour}"><title>${escapeHtml(`${s.name}, ${p.x}: ${p.note ?? p.y.toPrecision(3)}`)}</title></circle>`,
            );
        }
        const ly = m.top + 8 + k * 18;
        parts.push(
            `<line x1="${m.left + pw + 14}" x2="${m.left + pw + 34}" y1="${ly}" y2="${ly}" stroke="${s.colour}" stroke-width="2"${dash}/>`,
            `<text x="${m.left + pw + 40}" y="${ly + 4}" class="tick">${escapeHtml(s.name)}</text>`,
        );
    });
    parts.push("</svg>");
    return parts.join("\n");
}

/** One group of points of a scatter chart. */
export interface ScatterSeries {
    name: string;
    colour: string;
    points: { x: number; y: number; label?: string }[];
}

/** A scatter chart (inline SVG) on linear axes, with the zero lines drawn when they fall inside, and a legend. */
export function scatterChart(opts: { title: string; xLabel: string; yLabel: string; series: ScatterSeries[] }): string {
    const W = 720;
    const H = 380;
    const m = { left: 72, right: 150, top: 28, bottom: 48 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;
    const pts = opts.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (pts.length === 0) return "<p>Nothing to chart.</p>";
    const span = (vs: number[]) => {
        const [lo, hi] = [Math.min(...vs), Math.max(...vs)];
        const pad = (hi - lo || Math.abs(hi) || 1) * 0.06;
        return [lo - pad, hi + pad] as const;
    };
    const [x0, x1] = span(pts.map((p) => p.x));
    const [y0, y1] = span(pts.map((p) => p.y));
    const x = (v: number) => m.left + ((v - x0) * pw) / (x1 - x0);
    const y = (v: number) => m.top + ph * (1 - (v - y0) / (y1 - y0));
    // Ticks at a round step (1, 2 or 5 times a power of ten) giving 3-7 of them.
    const ticks = (lo: number, hi: number) => {
        const raw = (hi - lo) / 5;
        const p = 10 ** Math.floor(Math.log10(raw));
        const step = [1, 2, 5, 10].map((k) => k * p).find((st) => st >= raw) ?? 10 * p;
        const out: number[] = [];
        for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
        return out;
    };
    const fmt = (v: number) => String(Number(v.toPrecision(2)));
    const parts: string[] = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(opts.title)}">`,
        `<text x="${m.left}" y="16" class="title">${escapeHtml(opts.title)}</text>`,
    ];
    for (const t of ticks(y0, y1))
        parts.push(
            `<line x1="${m.left}" x2="${m.left + pw}" y1="${r1(y(t))}" y2="${r1(y(t))}" class="grid"/>`,
            `<text x="${m.left - 6}" y="${r1(y(t) + 4)}" text-anchor="end" class="tick">${fmt(t)}</text>`,
        );
    for (const t of ticks(x0, x1)) parts.push(`<text x="${r1(x(t))}" y="${r1(m.top + ph + 18)}" text-anchor="middle" class="tick">${fmt(t)}</text>`);
    if (x0 < 0 && x1 > 0) parts.push(`<line x1="${r1(x(0))}" x2="${r1(x(0))}" y1="${m.top}" y2="${m.top + ph}" class="axis"/>`);
    if (y0 < 0 && y1 > 0) parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${r1(y(0))}" y2="${r1(y(0))}" class="axis"/>`);
    parts.push(...axisFrame(m, pw, ph, H, opts.xLabel, opts.yLabel));
    opts.series.forEach((s, k) => {
        for (const p of s.points) {
            if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
            parts.push(
                `<circle cx="${r1(x(p.x))}" cy="${r1(y(p.y))}" r="3.5" fill="${s.colour}" fill-opacity="0.8"><title>${escapeHtml(p.label ?? `${s.name}: ${fmt(p.x)}, ${fmt(p.y)}`)}</title></circle>`,
            );
        }
        const ly = m.top + 8 + k * 18;
        parts.push(
            `<circle cx="${m.left + pw + 22}" cy="${ly}" r="4" fill="${s.colour}"/>`,
            `<text x="${m.left + pw + 32}" y="${ly + 4}" class="tick">${escapeHtml(s.name)}</text>`,
        );
    });
    parts.push("</svg>");
    return parts.join("\n");
}
