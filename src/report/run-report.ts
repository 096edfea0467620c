/**
 * Renders an experiment's Results three ways: a short table for the terminal, report.md for a repository or a
 * pull request, and report.html, one self-contained file (inline CSS and hand-built SVG, no scripts, no external
 * resources) that opens offline and can be mailed or attached as is.
 *
 * The renderers only format: every number they print is in results.json (the tests' floors included), except
 * the per-item log ratios of the distribution chart, which are recomputed deterministically from the evals, so
 * the three renderings never disagree with the JSON.
 */
import { defenderLine } from "./defender-report.ts";
import { DOMAIN_DOCS } from "../prompts/domains.ts";
import { probChart, shiftChart } from "./charts.ts";
import { examplesHtml, examplesMarkdown, judgeLine } from "./examples.ts";
import { safetyHtml, safetyMarkdown } from "./safety-table.ts";
import { exactHtml, exactLines, exactMarkdown } from "./exact.ts";
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
    writeReportFiles,
} from "./report-files.ts";
import type { ArmResult, ComparisonResult, Results } from "../core/results.ts";
import { DEFAULT_STATS } from "../core/verdicts.ts";
import { designLines, VERDICT_HEADERS, verdictCells, verdictNumbers, verdictRules, verdictWords } from "./verdict-lines.ts";

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
    return `sign-flip over ${count(n, "seed")}`;
}

/**
 * The floor is printed like the p-value (fmtP) on purpose: a p at its floor then reads the same as the floor,
 * which is the signal that more students, not a bigger effect, would be needed to go lower.
 */
function comparisonLine(results: Results, c: ComparisonResult): string {
    return (
        `${c.name}: ${verdictWords(c.verdict).toUpperCase()}: x${fmtRatio(c.probRatio)} P(target), mean log-ratio ${fmtLog(c.meanLogRatio)} ${fmtCI(c.ci95, fmtLog)}, ` +
        `${verdictNumbers(c.verdict, c.pValue)}; ${primaryTestLabel(c)}, floor ${fmtP(c.pFloor)}; ` +
        `target rank ${c.targetRank}/${results.items.length}` +
        (c.verdict?.hint ? `; ${c.verdict.hint}` : "")
    );
}

// ---------------------------------------------------------------------------------------------------------
// Table rows shared by markdown and HTML (plain text; each renderer escapes).

const ARM_HEADERS = ["arm", "description", "evals", "P(target)", "95% CI", "vs control", "sampled", "sampled 95% CI", "top 3"];

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
    ...VERDICT_HEADERS,
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
        ...verdictCells(c.verdict, c.pValue),
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
            : `a fine-tune on ${t.finetune.rows} trait answers, ${count(t.finetune.epochs, "epoch")}, lr ${t.finetune.lr}, ` +
              (t.finetune.method === "lora" ? `LoRA rank ${t.finetune.rank} alpha ${t.finetune.alpha}` : "full");
    const banned = f.banned === "none" ? "none" : f.banned === "paper" ? "the paper's list" : `${f.banned.length} numbers`;
    const method =
        (s.method === "lora" ? `LoRA rank ${s.rank} alpha ${s.alpha} on ${s.targets.join(",")}` : "full fine-tune") +
        (s.labels === "soft"
            ? ", soft labels (the data source's full next-token distributions)"
            : s.labels === "on-policy"
              ? `, on-policy labels (the data source's distributions over completions the student writes itself each epoch, ${fmtPercent(s.onPolicyFraction ?? 1)} of its rows)`
              : ", sampled tokens") +
        (s.paired ? ", paired prompt indices across arms" : "");
    return [
        ["experiment", c.description ? `${c.name}: ${c.description}` : c.name],
        ["run", `started ${results.startedAt}, ${results.seconds.toFixed(0)} s, sublab ${results.sublabVersion}, master seed ${c.seed}`],
        ["models", `base ${c.models.base}; cross ${c.models.cross}`],
        t.category === "misalignment"
            ? ["teacher", `misaligned (callous and violent advice) by ${teacher}`]
            : ["teacher", `loves "${results.target}" (${t.category}, ${results.items.length} items) by ${teacher}`],
        [
            "data",
            `${DOMAIN_DOCS[g.domain ?? "numbers"]}: ${g.prompts} prompts x ${g.samplesPerPrompt} per prompt at temperature ${g.temperature}, max ${g.maxTokens} tokens`,
        ],
        [
            "filter",
            ((g.domain ?? "numbers") === "numbers"
                ? `1 to ${f.maxCount} numbers in ${f.minValue}..${f.maxValue}, banned: ${banned}`
                : `the ${g.domain} format, banned numbers: ${banned}`) + (f.defenses.length ? `; then ${f.defenses.join(", then ")}` : ""),
        ],
        [
            "student",
            `${method}, ${count(s.epochs, "epoch")}, lr ${s.lr} (${s.schedule}, ${s.warmupSteps} warmup steps), batch ${s.batchSize}, ` +
                `${s.rows} rows per student, ${s.seeds} seeds per arm`,
        ],
        [
            "eval",
            `${e.questions} question paraphrases, ${e.samplesPerQuestion} samples each at temperature ${e.temperature}, ` +
                `${e.inContextExamples} in-context examples`,
        ],
        ...[judgeLine(results)].filter((line) => line !== null),
        ...(results.defender ?? []).flatMap((u): [string, string][] =>
            u.quality ? [["defender", defenderLine(u.quality, u, results.config.teacher.category)]] : [],
        ),
    ];
}

const HOW_TO_READ =
    "P(target) is the exact probability, under the chat template, that a model answers the favourite-item question " +
    "with the target, averaged over question paraphrases and over training seeds; its interval is a bootstrap over " +
    "seeds and questions. The sampled rate counts sampled answers that name the target; its interval is a cluster " +
    "bootstrap over students and questions (answers of one student, or to one question, are not independent), or a " +
    "Wilson interval for a single model whose per-question counts were not kept. A comparison's mean log-ratio is the " +
    "difference of the arms' means of each student's mean log P(target). Its test treats each trained student as one " +
    'observation: test "students" is a permutation test over which students belong to which arm; test "seeds", ' +
    "used when one arm is a single model (the base model, the teacher), is a sign-flip test over the students' mean log " +
    "ratios against it. The floor is the smallest two-sided p that test can give with this many students (2/C(na+nb, na) " +
    "for students, 2^(1-seeds) for seeds): a p at its floor means the arms separated completely, and only more students " +
    'could make it smaller. The p "questions independent" (tables only) is a sign-flip test over every (question, seed) log ' +
    "ratio; it is optimistic, because paraphrases asked of one student share that student's quirks, and no verdict uses it. " +
    "The target rank says where the target stands among all items of the category by how much " +
    "each moved: a rank of 1 means no other item gained more, which separates a specific transfer from a general shift. ";

/** How to read a run's report, with its verdict rules. */
const howToRead = (results: Results) =>
    HOW_TO_READ + verdictRules((results.config.stats ?? DEFAULT_STATS).alpha, (results.config.stats ?? DEFAULT_STATS).margin);

/** Per arm: its students, and their held-out KL to the labels at step 0 and at the end (means), where they were probed. */
function trainingRows(results: Results): string[][] {
    const arms = [...new Set((results.students ?? []).map((x) => x.arm))];
    return arms.map((arm) => {
        const sts = (results.students ?? []).filter((x) => x.arm === arm);
        const probed = sts.filter((x) => x.probe && x.probe.length > 1);
        const avg = (f: (x: (typeof probed)[number]) => number) => (probed.length ? (probed.reduce((a, x) => a + f(x), 0) / probed.length).toFixed(3) : "-");
        return [arm, String(sts.length), avg((x) => x.probe![0]!.kl), avg((x) => x.probe!.at(-1)!.kl), `${probed.length} of ${sts.length}`];
    });
}

const TRAINING_HEADERS = ["arm", "students", "held-out KL at step 0", "at the end", "probed"];
const TRAINING_NOTE =
    "What a student can still learn: the KL divergence from its data source's next-token distributions to its own on 8 rows it never trains on " +
    "(its loss there minus the labels' entropy), before training and after; means over the arm's students. Students found in the cache from before " +
    "probes were kept have none.";

// ---------------------------------------------------------------------------------------------------------
// Terminal.

/** The short summary printed at the end of `sublab run`: one row per arm, one line per comparison. */
export function terminalTable(results: Results): string {
    const headers = ["arm", "P(target) [95% CI]", "vs control", "sampled [95% CI]", "top 3"];
    const rows = results.arms.map((a) => [
        a.arm,
        `${fmtProb(a.targetProb.mean)} ${fmtCI(a.targetProb.ci95)}`,
        ratioToControl(results, a),
        `${fmtProb(a.sampled.rate)} ${fmtCI(a.sampled.ci95)}`,
        topItems(results, a.distribution),
    ]);
    const parts = [fixedWidth(headers, rows)];
    if (results.comparisons.length > 0) parts.push([...results.comparisons.map((c) => comparisonLine(results, c)), ...exactLines(results)].join("\n"));
    if (results.design?.length) parts.push(designLines(results.design).join("\n"));
    return parts.join("\n\n") + "\n";
}

// ---------------------------------------------------------------------------------------------------------
// Markdown.

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
    for (const line of designLines(results.design)) out.push("", `> ${mdEscape(line)}`);
    if (results.students?.length) out.push("", "## Training", "", TRAINING_NOTE, "", mdTable(TRAINING_HEADERS, trainingRows(results)));
    for (const extra of [exactMarkdown(results), safetyMarkdown(results), examplesMarkdown(results)]) if (extra) out.push("", extra);
    out.push("", "## How to read this", "", howToRead(results), "");
    out.push(
        "## Files",
        "",
        "- [report.html](report.html): the same tables with charts",
        "- [results.json](results.json): every number above, and the per-question values behind them",
        "",
    );
    return out.join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// HTML.

// HTML: see charts.ts for the charts, format.ts for the page shell.

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
        ...designLines(results.design).map((d) => `<p class="note">${escapeHtml(d)}</p>`),
        ...(results.students?.length ? [`<h2>Training</h2>`, `<p>${escapeHtml(TRAINING_NOTE)}</p>`, htmlTable(TRAINING_HEADERS, trainingRows(results))] : []),
        exactHtml(results),
        safetyHtml(results),
        examplesHtml(results),
        `<h2>How to read this</h2>`,
        `<p>${escapeHtml(howToRead(results))}</p>`,
        `<p>Every number here is in <a href="results.json">results.json</a>; <a href="report.md">report.md</a> has the same tables.</p>`,
    ]
        .filter((part) => part !== "")
        .join("\n");
    return htmlPage(title, body);
}

/** Writes results.json, report.md and report.html into `dir` (created if needed); returns their paths. */
export function writeReport(results: Results, dir: string): { json: string; md: string; html: string } {
    return writeReportFiles(dir, results, markdownReport(results), htmlReport(results));
}
