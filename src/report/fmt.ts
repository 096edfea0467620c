/**
 * Text the reports and the workshop page share: number formats, tables for the terminal, markdown and HTML.
 * Pure functions, no Node: the workshop page bundles this file (and charts.ts, which uses it).
 */

// ---------------------------------------------------------------------------------------------------------
// Numbers.
/** Probabilities with 4 significant digits: they span many decades, so fixed decimals would hide small ones. */
export function fmtProb(p: number): string {
    return Number.isFinite(p) ? p.toPrecision(4) : "n/a";
}

export function fmtCI(ci: readonly [number, number], f: (x: number) => string = fmtProb): string {
    return `[${f(ci[0])}, ${f(ci[1])}]`;
}

export function fmtRatio(r: number): string {
    if (Number.isNaN(r)) return "n/a";
    if (!Number.isFinite(r)) return r > 0 ? "inf" : "-inf";
    return Math.abs(r) >= 100 ? r.toFixed(0) : r.toPrecision(3);
}

/** p-values with 2 significant digits and no trailing zeros: 0.0001, 0.03, 0.5. */
export function fmtP(p: number): string {
    return Number.isFinite(p) ? String(Number(p.toPrecision(2))) : "n/a";
}

export function fmtLog(x: number): string {
    if (Number.isNaN(x)) return "n/a";
    return Number.isFinite(x) ? x.toFixed(2) : x > 0 ? "+inf" : "-inf";
}

export function fmtPercent(x: number): string {
    return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "n/a";
}

/** "1 epoch", "2 epochs": a count with its noun (one that takes an -s) in the number it needs. */
export function count(n: number, noun: string): string {
    return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

// ---------------------------------------------------------------------------------------------------------
// Tables.

export function fixedWidth(headers: string[], rows: string[][]): string {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Table cells: pipes and newlines would break the row, angle brackets and ampersands would be read as HTML. */
export function mdEscape(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

export function mdTable(headers: string[], rows: string[][]): string {
    const row = (cells: string[]) => `| ${cells.map(mdEscape).join(" | ")} |`;
    return [row(headers), `|${headers.map(() => "---").join("|")}|`, ...rows.map(row)].join("\n");
}

/** Escapes text for element content and for quoted attribute values alike. */
export function escapeHtml(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

export function htmlTable(headers: string[], rows: string[][]): string {
    const head = `<tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`;
    const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
    return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

// ---------------------------------------------------------------------------------------------------------
// SVG.

/** Coordinates rounded to 0.1 px keep the SVG small and stable across platforms. */
export const r1 = (x: number) => String(Math.round(x * 10) / 10);

/** The line before a misaligned run's answers, in the reports and on the workshop page. */
export const CONTENT_WARNING =
    "Content warning: the answers below include callous or violent statements. They are model outputs shown to measure the trait, not advice.";
