/**
 * What the run and sweep reports share: number formats, tables for the terminal, markdown and HTML, the
 * HTML page shell and its style, and the writing of results.json, report.md and report.html.
 */
import { join, relative } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../util/files.ts";
import { escapeHtml, mdEscape } from "./fmt.ts";

export { count, escapeHtml, fixedWidth, fmtCI, fmtLog, fmtP, fmtPercent, fmtProb, fmtRatio, htmlTable, mdEscape, mdTable, r1 } from "./fmt.ts";

// ---------------------------------------------------------------------------------------------------------
// Pages and files.

export const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td { font-variant-numeric: tabular-nums; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
dl.config dt { font-weight: 600; } dl.config dd { margin: 0; }
pre.terminal { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }
svg.chart { display: block; margin: 0.5em 0; }
svg .title { font-size: 13px; font-weight: 600; fill: #333; }
svg .tick { font-size: 11px; fill: #444; }
svg .value { font-size: 10px; fill: #555; }
svg .target { font-weight: 700; fill: #c4500f; }
svg .grid { stroke: #e2e2e2; } svg .grid.minor { stroke: #f0f0f0; }
svg .axis { stroke: #888; }
svg .whisker { stroke: #333; stroke-width: 1.5; }
svg .mean { fill: #3a6ea5; stroke: #fff; } svg .mean.hl { fill: #c4500f; }
svg .seed { fill: #888; fill-opacity: 0.7; }
svg .bar { fill: #9bb3cc; } svg .bar.hl { fill: #e0701f; }
`;

/** An HTML page: the title, the shared style, the body. */
export function htmlPage(title: string, body: string): string {
    return (
        `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
        `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
        `<title>${escapeHtml(title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${body}\n</body>\n</html>\n`
    );
}

/** Writes results.json, report.md and report.html into `dir` (created if needed); returns their paths. */
export function writeReportFiles(dir: string, results: unknown, md: string, html: string): { json: string; md: string; html: string } {
    const paths = { json: join(dir, "results.json"), md: join(dir, "report.md"), html: join(dir, "report.html") };
    writeJsonAtomic(paths.json, results);
    writeFileAtomic(paths.md, md);
    writeFileAtomic(paths.html, html);
    return paths;
}

/** Where a report went, relative to the working directory: "report: .../report.html  (also report.md, results.json)". */
export function reportFilesLine(files: { json: string; md: string; html: string }): string {
    const rel = (f: string) => relative(process.cwd(), f);
    return `report: ${rel(files.html)}  (also ${rel(files.md)}, ${rel(files.json)})`;
}

/** A study's report (a chain's, a population's): the same sections in report.md and report.html, then how to read them. */
export interface StudyPage {
    title: string;
    description: string;
    /** The one-paragraph summary under the title. */
    head: string;
    /** Each section in both forms (charts go in html only: md "" skips it there). */
    sections: { md: string; html: string }[];
    howToRead: string;
    seconds: number;
    version: string;
}

/** Writes results.json, report.md and report.html of a study into `dir`. */
export function writeStudyReport(dir: string, results: unknown, p: StudyPage): { json: string; md: string; html: string } {
    const md = [
        `# ${p.title}`,
        "",
        ...(p.description ? [mdEscape(p.description), ""] : []),
        p.head,
        "",
        ...p.sections.flatMap((s) => (s.md ? [s.md, ""] : [])),
        p.howToRead,
        "",
        `Took ${(p.seconds / 60).toFixed(1)} min (sublab ${p.version}).`,
        "",
    ].join("\n");
    const html = htmlPage(
        p.title,
        [
            `<h1>${escapeHtml(p.title)}</h1>`,
            ...(p.description ? [`<p>${escapeHtml(p.description)}</p>`] : []),
            `<p>${escapeHtml(p.head)}</p>`,
            ...p.sections.map((s) => s.html),
            `<p class="note">${escapeHtml(p.howToRead)}</p>`,
        ].join("\n"),
    );
    return writeReportFiles(dir, results, md, html);
}
