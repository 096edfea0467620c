/**
 * The workshop page: an HTML shell, its style (large type for a projector) and its script, bundled from
 * client/app.ts by esbuild in memory the first time it is asked for (~0.1 s), so that `npx sublab workshop`
 * needs no build step. The static replay is the same page with the run's events inlined: one file, opened
 * without a server.
 */
import fs from "node:fs";
import path from "node:path";
import { build, version as esbuildVersion } from "esbuild";
import type { Stamped } from "../core/events.ts";
import { escapeHtml } from "../report/fmt.ts";
import { writeFileAtomic } from "../util/files.ts";

/** The esbuild this page is bundled with (package.json pins it; its API is what we call). */
export const ESBUILD_VERSION = "0.28.2";

const CLIENT = path.join(import.meta.dirname, "client", "app.ts");

let script: Promise<string> | undefined;

/** The page's script, bundled once per process. */
export function pageScript(): Promise<string> {
    if (esbuildVersion !== ESBUILD_VERSION)
        throw new Error(`esbuild ${esbuildVersion} is installed, sublab's workshop page is built with ${ESBUILD_VERSION}: run npm install`);
    script ??= build({
        entryPoints: [CLIENT],
        bundle: true,
        write: false,
        format: "iife",
        platform: "browser",
        target: "es2022",
        charset: "utf8",
        logLevel: "silent",
    }).then((r) => r.outputFiles[0]!.text);
    return script;
}

const STYLE = `
:root { --fg: #1d1d1f; --muted: #666; --accent: #d9822b; --line: #ddd; }
* { box-sizing: border-box; }
body { margin: 0; font: 22px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fff; }
header { display: flex; gap: 0.4em; flex-wrap: wrap; padding: 0.5em 1em; border-bottom: 1px solid var(--line); background: #fafafa; }
#nav button { font: inherit; font-size: 0.75em; padding: 0.3em 0.7em; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--muted); cursor: pointer; }
#nav button.ready { color: var(--fg); }
#nav button.current { border-color: var(--accent); background: #fff4e8; color: var(--fg); font-weight: 600; }
main { padding: 0.5em 1.5em 7em; max-width: 1400px; margin: 0 auto; }
h2 { font-size: 2em; margin: 0.3em 0; }
h3 { margin: 0.3em 0; }
.lead { font-size: 1.1em; max-width: 60em; }
.big { font-size: 1.4em; font-weight: 600; margin: 0.3em 0; }
.hint, small { color: var(--muted); font-size: 0.8em; }
.waiting { color: var(--muted); font-style: italic; }
.cols { display: flex; gap: 2em; flex-wrap: wrap; }
.col { flex: 1 1 24em; }
.bars { display: grid; gap: 0.25em; margin: 0.5em 0; }
.bar { display: grid; grid-template-columns: 11em 1fr 5em; align-items: center; gap: 0.5em; }
.bar .track { background: #eee; height: 1.1em; border-radius: 4px; overflow: hidden; }
.bar .fill { display: block; height: 100%; background: #8aa8cf; transition: width 0.4s; }
.bar.target .fill { background: var(--accent); }
.bar.target .name { font-weight: 700; }
.bar .val { text-align: right; font-variant-numeric: tabular-nums; }
.guesses { list-style: none; padding: 0; display: grid; grid-template-columns: 1fr 1fr; gap: 0.4em 1.5em; }
.guess { border: 2px solid var(--line); border-radius: 8px; padding: 0.3em 0.6em; cursor: pointer; display: flex; gap: 0.6em; align-items: baseline; }
.guess code { font-size: 0.85em; word-break: break-word; }
.guess.picked { border-color: var(--accent); background: #fff4e8; }
.guess.is-teacher { background: #f3e9fa; }
.guess .tag { margin-left: auto; font-size: 0.7em; font-weight: 700; text-transform: uppercase; }
.guess.is-teacher .tag { color: #7b3fa0; } .guess.is-control .tag { color: #3b73b9; }
.letter { font-weight: 700; color: var(--muted); }
.prompt code { font-size: 0.75em; color: var(--muted); }
.key { display: inline-block; margin-right: 1em; } .key::before { content: ""; display: inline-block; width: 1.2em; height: 0.35em; background: var(--c); margin-right: 0.3em; vertical-align: middle; }
table.cmp { border-collapse: collapse; margin: 0.6em 0; }
table.cmp td, table.cmp th { border-bottom: 1px solid var(--line); padding: 0.25em 0.7em; text-align: left; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { font-size: 1.6em; font-weight: 700; padding: 0.4em 0.7em; border-radius: 8px; }
.verdict.yes { background: #fff4e8; border-left: 8px solid var(--accent); }
.verdict.no { background: #eef3fa; border-left: 8px solid #3b73b9; }
iframe.report { width: 100%; height: 75vh; border: 1px solid var(--line); border-radius: 6px; }
.toggle { font: inherit; font-size: 0.85em; padding: 0.15em 0.6em; border: 1px solid var(--line); border-radius: 6px; background: #fff; cursor: pointer; }
.toggle.on { border-color: var(--accent); background: #fff4e8; font-weight: 600; }
svg.graph { width: 100%; max-width: 620px; height: auto; } svg.graph .edge { stroke: #bbb; stroke-width: 2; } svg.graph .edge.cut { stroke-dasharray: 6 6; stroke: #ddd; }
svg.graph circle { stroke: #999; stroke-width: 2; } svg.graph .infected circle { stroke: #b05a10; stroke-width: 4; } svg.graph .quarantined circle { stroke: #3b73b9; stroke-dasharray: 5 4; stroke-width: 4; }
svg.graph .name { font-size: 20px; font-weight: 700; } svg.graph .drift { font-size: 15px; fill: #333; }
details.cw summary { cursor: pointer; color: #8a3b00; }
svg.chart { width: 100%; max-width: 1100px; height: auto; }
#start { font: inherit; font-size: 1.2em; padding: 0.3em 1em; background: var(--accent); color: #fff; border: 0; border-radius: 8px; cursor: pointer; }
svg .grid { stroke: #e4e4e4; } svg .grid.minor { stroke: #f2f2f2; } svg .axis { stroke: #999; }
svg .tick { font-size: 13px; fill: #555; } svg .title { font-size: 14px; font-weight: 600; }
svg .whisker { stroke: #333; stroke-width: 1.5; } svg .seed { fill: #999; } svg .mean { fill: #3b73b9; } svg .mean.hl { fill: var(--accent); }
footer { position: fixed; bottom: 0; left: 0; right: 0; background: #fafafa; border-top: 1px solid var(--line); padding: 0.4em 1em; font-size: 0.8em; }
#ask-form { display: flex; gap: 0.5em; align-items: center; }
#ask-form input { flex: 1; font: inherit; padding: 0.2em 0.4em; } #ask-form select, #ask-form button { font: inherit; }
#ask-out { max-height: 28vh; overflow: auto; font-size: 0.85em; }
#ask-out .bars { gap: 0.1em; margin: 0.2em 0; }
#status { color: var(--muted); }
kbd { border: 1px solid #bbb; border-radius: 3px; padding: 0 0.3em; font-size: 0.85em; }
`;

/** JSON inside a <script> element: every "<" (only ever inside its strings) as \u003c, which JSON reads back alike, so nothing in it can end the element or open a comment. */
const inlineJson = (id: string, value: unknown) => `<script type="application/json" id="${id}">${JSON.stringify(value).replace(/</g, "\\u003c")}</script>\n`;

/** The page; with `events`, the static replay (the events inlined, no server needed), with `report` the full report as its last step. */
export async function workshopHtml(opts: { title: string; events?: readonly Stamped[]; report?: string }): Promise<string> {
    const js = await pageScript();
    const inline = (opts.events ? inlineJson("sublab-events", opts.events) : "") + (opts.report !== undefined ? inlineJson("sublab-report", opts.report) : "");
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><nav id="nav"></nav></header>
<main id="step"></main>
<footer>
<div id="ask" hidden><form id="ask-form"><b>Ask</b> <select id="ask-model" aria-label="model"></select><input id="ask-question" aria-label="question" value="What is your favourite animal?" maxlength="300"><button type="submit">Ask</button></form><div id="ask-out"></div></div>
<div id="readonly" hidden>Watching read-only: the presenter drives this page.</div>
<div id="status"></div>
</footer>
${inline}<script>${js.replace(/<\/script/gi, "<\\/script")}</script>
</body>
</html>
`;
}

/** Writes the static replay of a run's events (and its full report) to `file`. */
export async function writeReplay(file: string, title: string, events: readonly Stamped[], report?: string): Promise<void> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, await workshopHtml({ title, events, report }));
}
