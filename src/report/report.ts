/**
 * Renders an experiment's Results three ways: a short table for the terminal, report.md for a repository or a
 * pull request, and report.html, one self-contained file (inline CSS and hand-built SVG, no scripts, no external
 * resources) that opens offline and can be mailed or attached as is.
 *
 * The renderers only format: every number they print is in results.json (the tests' floors included), except
 * the per-item log ratios of the distribution chart, which are recomputed deterministically from the evals, so
 * the three renderings never disagree with the JSON.
 */
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../util/files.ts";
import { itemLogRatios, PROB_FLOOR } from "../stats/stats.ts";
import type { ArmResult, ComparisonResult, Results } from "../core/types.ts";

// ---------------------------------------------------------------------------------------------------------
// Number formatting shared by all three renderings.

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
    return Number.isFinite(x) ? x.toFixed(2) : "n/a";
}

export function fmtPercent(x: number): string {
    return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "n/a";
}

// ---------------------------------------------------------------------------------------------------------
// Derived values.

function armByName(results: Results, name: string): ArmResult | undefined {
    return results.arms.find((a) => a.arm === name);
}

function ratioToControl(results: Results, arm: ArmResult): string {
    const control = armByName(results, "control");
    if (!control) return "-";
    return `x${fmtRatio(arm.targetProb.mean / control.targetProb.mean)}`;
}

function topItems(results: Results, dist: readonly number[], k = 3): string {
    return dist
        .map((p, i) => [results.items[i] ?? `#${i}`, p] as const)
        .sort((x, y) => y[1] - x[1])
        .slice(0, k)
        .map(([name, p]) => `${name} ${fmtProb(p)}`)
        .join(", ");
}

/** Seeds paired against the single eval of the other arm: the seeds test's sample size. */
function seedPairs(c: ComparisonResult): number {
    return Math.max(c.studentsA, c.studentsB);
}

/** What the primary p was computed over, e.g. "permutation over 5+5 students" or "sign-flip over 5 seeds". */
function primaryTestLabel(c: ComparisonResult): string {
    if (c.test === "students") return `permutation over ${c.studentsA}+${c.studentsB} students`;
    const n = seedPairs(c);
    return `sign-flip over ${n} seed${n === 1 ? "" : "s"}`;
}

/**
 * The floor is printed like the p-value (fmtP) on purpose: a p at its floor then reads the same as the floor,
 * which is the signal that more students, not a bigger effect, would be needed to go lower.
 */
function comparisonLine(results: Results, c: ComparisonResult): string {
    return (
        `${c.name}: x${fmtRatio(c.probRatio)} P(target), mean log-ratio ${fmtLog(c.meanLogRatio)} ${fmtCI(c.ci95, fmtLog)}, ` +
        `p = ${fmtP(c.pValue)} (${primaryTestLabel(c)}, floor ${fmtP(c.pFloor)}), ` +
        `p = ${fmtP(c.pValueQuestions)} if questions were independent, ` +
        `target rank ${c.targetRank}/${results.items.length}`
    );
}

// ---------------------------------------------------------------------------------------------------------
// Table rows shared by markdown and HTML (plain text; each renderer escapes).

const ARM_HEADERS = ["arm", "description", "evals", "P(target)", "95% CI", "vs control", "sampled", "Wilson 95% CI", "top 3"];

function armRows(results: Results): string[][] {
    return results.arms.map((a) => [
        a.arm,
        a.description,
        String(a.evals.length),
        fmtProb(a.targetProb.mean),
        fmtCI(a.targetProb.ci95),
        ratioToControl(results, a),
        `${a.sampled.hits}/${a.sampled.n} (${fmtProb(a.sampled.rate)})`,
        fmtCI(a.sampled.ci95),
        topItems(results, a.distribution),
    ]);
}

const COMPARISON_HEADERS = [
    "comparison",
    "P ratio",
    "mean log-ratio",
    "95% CI",
    "p (primary)",
    "test",
    "floor",
    "p (questions independent)",
    "target rank",
];

function comparisonRows(results: Results): string[][] {
    return results.comparisons.map((c) => [
        c.name,
        `x${fmtRatio(c.probRatio)}`,
        fmtLog(c.meanLogRatio),
        fmtCI(c.ci95, fmtLog),
        fmtP(c.pValue),
        c.test === "students" ? `students, ${c.studentsA}+${c.studentsB}` : `seeds, ${seedPairs(c)} vs 1 eval`,
        fmtP(c.pFloor),
        fmtP(c.pValueQuestions),
        `${c.targetRank}/${results.items.length}`,
    ]);
}

const DATASET_HEADERS = ["dataset", "role", "raw", "kept", "pass rate", "top reject reasons"];

function datasetRows(results: Results): string[][] {
    return results.datasets.map((d) => [
        d.id,
        d.role,
        String(d.raw),
        String(d.kept),
        fmtPercent(d.passRate),
        Object.entries(d.rejectReasons)
            .sort((x, y) => y[1] - x[1])
            .slice(0, 3)
            .map(([reason, n]) => `${reason} (${n})`)
            .join(", ") || "-",
    ]);
}

/** What was run, one [label, value] per line: enough to tell two reports apart without opening the config. */
function configRows(results: Results): [string, string][] {
    const c = results.config;
    const t = c.teacher;
    const s = c.student;
    const g = c.generate;
    const f = c.filter;
    const e = c.eval;
    const teacher =
        t.trait === "prompt"
            ? `a system prompt${t.systemPrompt ? `: "${t.systemPrompt}"` : " (default persona sentence)"}`
            : `a fine-tune on ${t.finetune.rows} trait answers, ${t.finetune.epochs} epochs, lr ${t.finetune.lr}, ` +
              (t.finetune.method === "lora" ? `LoRA rank ${t.finetune.rank} alpha ${t.finetune.alpha}` : "full");
    const banned = f.banned === "none" ? "none" : f.banned === "paper" ? "the paper's list" : `${f.banned.length} numbers`;
    const method =
        (s.method === "lora" ? `LoRA rank ${s.rank} alpha ${s.alpha} on ${s.targets.join(",")}` : "full fine-tune") +
        (s.labels === "soft" ? ", soft labels (the data source's full next-token distributions)" : ", sampled tokens") +
        (s.paired ? ", paired prompt indices across arms" : "");
    return [
        ["experiment", c.description ? `${c.name}: ${c.description}` : c.name],
        ["run", `started ${results.startedAt}, ${results.seconds.toFixed(0)} s, sublab ${results.sublabVersion}, master seed ${c.seed}`],
        ["models", `base ${c.models.base}; cross ${c.models.cross}`],
        ["teacher", `loves "${results.target}" (${t.category}, ${results.items.length} items) by ${teacher}`],
        ["numbers", `${g.prompts} prompts x ${g.samplesPerPrompt} per prompt at temperature ${g.temperature}, max ${g.maxTokens} tokens`],
        ["filter", `1 to ${f.maxCount} numbers in ${f.minValue}..${f.maxValue}, banned: ${banned}`],
        [
            "student",
            `${method}, ${s.epochs} epochs, lr ${s.lr} (${s.schedule}, ${s.warmupSteps} warmup steps), batch ${s.batchSize}, ` +
                `${s.rows} rows per student, ${s.seeds} seeds per arm`,
        ],
        [
            "eval",
            `${e.questions} question paraphrases, ${e.samplesPerQuestion} samples each at temperature ${e.temperature}, ` +
                `${e.inContextExamples} in-context examples`,
        ],
    ];
}

const HOW_TO_READ =
    "P(target) is the exact probability, under the chat template, that a model answers the favourite-item question " +
    "with the target, averaged over question paraphrases and over training seeds; its interval is a bootstrap over " +
    "seeds and questions. The sampled rate counts sampled answers that name the target (Wilson interval). A comparison's " +
    "mean log-ratio is the average of log P_a - log P_b over questions and seeds paired by position. Its primary p " +
    "(one-sided, H1: a above b) treats each trained student as one observation: test \"students\" is a permutation " +
    "test over which students belong to which arm, comparing the arms' means of each student's mean log P(target); " +
    "test \"seeds\", used when one arm is a single model (the base model, the teacher), is a sign-flip test over the " +
    "per-seed mean log ratios against it. The floor is the smallest p that test can give with this many students " +
    "(1/C(na+nb, na) for students, 2^-seeds for seeds, 1/(draws+1) when sampled): a p at its floor means the arms " +
    "separated completely, and only more students could make it smaller. The p \"if questions were independent\" " +
    "is a sign-flip test over every (question, seed) log ratio; it is optimistic, because paraphrases asked of one " +
    "student share that student's quirks and are not independent, so even a negligible but consistent shift gets a " +
    "small p. The target rank says where the target stands among all items of the category by how much " +
    "each moved: a rank of 1 means no other item gained more, which separates a specific transfer from a general shift.";

// ---------------------------------------------------------------------------------------------------------
// Terminal.

export function fixedWidth(headers: string[], rows: string[][]): string {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The short summary printed at the end of `sublab run`: one row per arm, one line per comparison. */
export function terminalTable(results: Results): string {
    const headers = ["arm", "P(target) [95% CI]", "vs control", "sampled [Wilson 95% CI]", "top 3"];
    const rows = results.arms.map((a) => [
        a.arm,
        `${fmtProb(a.targetProb.mean)} ${fmtCI(a.targetProb.ci95)}`,
        ratioToControl(results, a),
        `${fmtProb(a.sampled.rate)} ${fmtCI(a.sampled.ci95)}`,
        topItems(results, a.distribution),
    ]);
    const parts = [fixedWidth(headers, rows)];
    if (results.comparisons.length > 0) parts.push(results.comparisons.map((c) => comparisonLine(results, c)).join("\n"));
    return parts.join("\n\n") + "\n";
}

// ---------------------------------------------------------------------------------------------------------
// Markdown.

/** Table cells: pipes and newlines would break the row, angle brackets and ampersands would be read as HTML. */
export function mdEscape(s: string): string {
    return s
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/\|/g, "\\|")
        .replace(/\r?\n/g, " ");
}

export function mdTable(headers: string[], rows: string[][]): string {
    const row = (cells: string[]) => `| ${cells.map(mdEscape).join(" | ")} |`;
    return [row(headers), `|${headers.map(() => "---").join("|")}|`, ...rows.map(row)].join("\n");
}

export function markdownReport(results: Results): string {
    const out: string[] = [];
    out.push(`# sublab: ${mdEscape(results.experiment)}`, "");
    out.push("## What was run", "");
    for (const [label, value] of configRows(results)) out.push(`- **${label}**: ${mdEscape(value)}`);
    out.push("", "## Datasets", "");
    out.push(results.datasets.length > 0 ? mdTable(DATASET_HEADERS, datasetRows(results)) : "_No datasets._");
    out.push("", "## Arms", "");
    out.push(results.arms.length > 0 ? mdTable(ARM_HEADERS, armRows(results)) : "_No arms._");
    out.push("", "## Comparisons", "");
    out.push(results.comparisons.length > 0 ? mdTable(COMPARISON_HEADERS, comparisonRows(results)) : "_No comparisons._");
    out.push("", "## How to read this", "", HOW_TO_READ, "");
    out.push("## Files", "", "- [report.html](report.html): the same tables with charts", "- [results.json](results.json): every number above, and the per-question values behind them", "");
    return out.join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// HTML.

/** Escapes text for element content and for quoted attribute values alike. */
export function escapeHtml(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

export function htmlTable(headers: string[], rows: string[][]): string {
    const head = `<tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`;
    const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
    return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** Coordinates rounded to 0.1 px keep the SVG small and stable across platforms. */
const r1 = (x: number) => String(Math.round(x * 10) / 10);

function tickLabel(v: number): string {
    return v >= 1e-3 ? String(Number(v.toPrecision(1))) : v.toExponential(0);
}

/**
 * A log axis from `min` to `max` (both > 0): bounds and ticks at 1, 2 and 5 times powers of ten when the data
 * span two decades or less, at powers of ten otherwise, so that a narrow band of values is not squeezed into a
 * corner of a many-decade axis. Returns log10 bounds.
 */
function logAxis(min: number, max: number): { lo: number; hi: number; ticks: number[] } {
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
function probChart(results: Results): string {
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
            parts.push(
                `<circle cx="${r1(cx + 14 + j * step)}" cy="${r1(y(e.targetProb))}" r="2.5" class="seed"><title>${escapeHtml(label)}</title></circle>`,
            );
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
function shiftChart(results: Results): string {
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

export function htmlReport(results: Results): string {
    const title = `sublab: ${results.experiment}`;
    const config = configRows(results)
        .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
        .join("\n");
    const body = [
        `<h1>${escapeHtml(title)}</h1>`,
        `<h2>What was run</h2>`,
        `<dl class="config">\n${config}\n</dl>`,
        `<h2>Summary</h2>`,
        `<pre class="terminal">${escapeHtml(terminalTable(results))}</pre>`,
        `<h2>P(target) per arm</h2>`,
        probChart(results),
        `<h2>Distribution shift</h2>`,
        shiftChart(results),
        `<h2>Datasets</h2>`,
        results.datasets.length > 0 ? htmlTable(DATASET_HEADERS, datasetRows(results)) : "<p>No datasets.</p>",
        `<h2>Arms</h2>`,
        results.arms.length > 0 ? htmlTable(ARM_HEADERS, armRows(results)) : "<p>No arms.</p>",
        `<h2>Comparisons</h2>`,
        results.comparisons.length > 0 ? htmlTable(COMPARISON_HEADERS, comparisonRows(results)) : "<p>No comparisons.</p>",
        `<h2>How to read this</h2>`,
        `<p>${escapeHtml(HOW_TO_READ)}</p>`,
        `<p>Every number here is in <a href="results.json">results.json</a>; <a href="report.md">report.md</a> has the same tables.</p>`,
    ].join("\n");
    return (
        `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
        `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
        `<title>${escapeHtml(title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${body}\n</body>\n</html>\n`
    );
}

// ---------------------------------------------------------------------------------------------------------
// Files.

/** Writes results.json, report.md and report.html into `dir` (created if needed); returns their paths. */
export function writeReport(results: Results, dir: string): { json: string; md: string; html: string } {
    const paths = { json: join(dir, "results.json"), md: join(dir, "report.md"), html: join(dir, "report.html") };
    writeJsonAtomic(paths.json, results);
    writeFileAtomic(paths.md, markdownReport(results));
    writeFileAtomic(paths.html, htmlReport(results));
    return paths;
}
