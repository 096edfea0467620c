/**
 * An entanglement study's report: the prompted numbers (entangled, frequency-matched, random) with their
 * scores and what "You love N" does to P(target), the set comparisons, the data check, and two scatter charts.
 */
import type { Correlation, EntangleResults, EntangleVerdict, NumberSet } from "../core/results.ts";
import { scatterChart } from "./charts.ts";
import { escapeHtml, fixedWidth, fmtP, fmtProb, fmtRatio, htmlTable, mdTable, writeStudyReport } from "./report-files.ts";

const SETS: Record<NumberSet, { colour: string; what: string }> = {
    entangled: { colour: "#c4500f", what: "the numbers the trait raises most" },
    matched: { colour: "#3a6ea5", what: "as frequent under the base as an entangled one" },
    random: { colour: "#888888", what: "drawn at random from the rest" },
};

const f3 = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(3)}`;

const HEADERS = ["set", "number", "score log(P_t/P_b)", "P base", "P teacher", "P(target) | love N", "ratio to no prompt", "rank"];

function rows(r: EntangleResults): string[][] {
    return r.prompted.map((p) => [
        p.set,
        String(p.number),
        f3(p.score),
        fmtProb(p.base),
        fmtProb(p.teacher),
        fmtProb(p.pTarget),
        `x${fmtRatio(Math.exp(p.lift))}`,
        `${p.rank}/${r.items.length}`,
    ]);
}

const CMP_HEADERS = ["test", "estimate", "95% CI", "p", "p adj (Holm)", "equivalence p adj", "verdict"];

/** A verdict's cells; results from before verdicts show their one-sided p alone. */
function verdictCols(v: EntangleVerdict | undefined, p: number): string[] {
    return v ? [fmtP(p), fmtP(v.pAdjusted), fmtP(v.pEquivalenceAdjusted), v.text] : [`${fmtP(p)} (one-sided)`, "-", "-", "-"];
}

const ci = (c: [number, number] | undefined) => (c ? `[${f3(c[0])}, ${f3(c[1])}]` : "-");

function cmpRows(r: EntangleResults): string[][] {
    const corr = (name: string, c: Correlation) => [
        name,
        `partial ${f3(c.partial)} (rho ${f3(c.rho)}, n = ${c.n})`,
        ci(c.ci95),
        ...verdictCols(c.verdict, c.p),
    ];
    return [
        ...r.comparisons.map((c) => [`${c.a} vs ${c.b} (difference in mean log ratio)`, f3(c.diff), ci(c.ci95), ...verdictCols(c.verdict, c.p)]),
        corr("lift against score (partial rank correlation, base frequency fixed)", r.liftVsScore),
        ...(r.data ? [corr("data: over-production against score (partial, base frequency fixed)", r.data.overVsScore)] : []),
    ];
}

/** How the family was tested, for under the table. */
function statsLine(r: EntangleResults): string {
    if (!r.stats) return "Tests of results from before verdicts: one-sided, uncorrected.";
    const n = 3 + (r.data ? 1 : 0);
    return (
        `Verdicts: Holm over the run's ${n} tests at alpha ${r.stats.alpha}; "no difference" needs two one-sided tests to put the set difference within x${r.stats.margin} ` +
        `(a ratio of lifts), "no correlation" the partial correlation within +-${r.stats.rhoMargin} (Fisher's z). Set differences: their own permutation test inverted for the interval.`
    );
}

function dataLines(r: EntangleResults): string[] {
    const d = r.data;
    if (!d) return [];
    return [
        `Data: ${d.teacherNumbers} numbers in ${d.teacherFile}, ${d.controlNumbers} in ${d.controlFile}.`,
        `Over-production (log share, teacher over control) against score, over the ${d.overVsScore.n} numbers seen at least 10 times: Spearman rho ${f3(d.overVsScore.rho)}; ` +
            `partial with base frequency fixed ${f3(d.overVsScore.partial)} (${d.overVsScore.verdict ? d.overVsScore.verdict.text : `p = ${fmtP(d.overVsScore.p)}, one-sided`}). Over-production against base frequency alone: rho ${f3(d.overVsFrequency)}.`,
        `Mean over-production of each set: ${(Object.keys(SETS) as NumberSet[]).map((s) => `${s} ${f3(d.setOver[s])}`).join(", ")}.`,
    ];
}

function head(r: EntangleResults): string {
    const t = r.teacher;
    const teacher = t.system ? `the base prompted "${t.system}"` : `${t.model}${t.lora ? ` + ${t.lora}` : ""}`;
    return (
        `Target ${r.target}; base ${r.base}; teacher ${teacher}. Scores over the first answer token of ${r.contexts} number prompts; ` +
        `P(target) over ${r.questions} questions: ${fmtProb(r.baseline)} with no system prompt, ${fmtProb(r.teacherP)} under the teacher.`
    );
}

export function entangleTable(r: EntangleResults): string {
    const top = r.numbers
        .slice(0, 10)
        .map((n) => `${n.number} (${f3(n.score)})`)
        .join(", ");
    return [
        head(r),
        "",
        `Most entangled: ${top}`,
        "",
        fixedWidth(HEADERS, rows(r)),
        "",
        fixedWidth(CMP_HEADERS, cmpRows(r)),
        statsLine(r),
        ...(r.data ? ["", ...dataLines(r)] : []),
        "",
    ].join("\n");
}

function charts(r: EntangleResults): string {
    const lift = scatterChart({
        title: `"You love N": P(${r.target}) against N's entanglement score`,
        xLabel: "entanglement score, log(P_teacher(N) / P_base(N))",
        yLabel: `log P(${r.target} | love N) / P(no prompt)`,
        series: (Object.keys(SETS) as NumberSet[]).map((s) => ({
            name: s,
            colour: SETS[s].colour,
            points: r.prompted
                .filter((p) => p.set === s)
                .map((p) => ({ x: p.score, y: p.lift, label: `${p.number} (${s}): score ${f3(p.score)}, x${fmtRatio(Math.exp(p.lift))}` })),
        })),
    });
    if (!r.data) return lift;
    const scoreOf = new Map(r.numbers.map((n) => [n.number, n.score]));
    const seen = r.data.over.filter((o) => o.teacher + o.control >= 10);
    const over = scatterChart({
        title: "The teacher's data: over-production against entanglement score",
        xLabel: "entanglement score, log(P_teacher(N) / P_base(N))",
        yLabel: "log share in teacher data / control data",
        series: [
            {
                name: "numbers",
                colour: "#3a6ea5",
                points: seen.map((o) => ({ x: scoreOf.get(o.number)!, y: o.over, label: `${o.number}: ${o.teacher} vs ${o.control}` })),
            },
        ],
    });
    return `${lift}\n${over}`;
}

const HOW_TO_READ =
    "Score: how much the teacher (the trait) raises a number as the first token of an answer to a number prompt, against the base. " +
    "Entangled: the top scores. Matched: for each entangled number, the unused number whose base probability is nearest (the plain-frequency control). " +
    'Random: other numbers. Each prompted number sets the base\'s system prompt to "You love N..."; the ratio is P(target) against the base with no ' +
    "system prompt, as a geometric mean over questions (any system prompt moves it, so the sets are compared with each other). Entangled vs matched: " +
    "paired sign flips over the matched pairs; entangled vs random: two-sample permutation; both two-sided. Partial correlations hold the base's log probability fixed. " +
    "The run's tests are one family, Holm-corrected.";

export function writeEntangleReport(r: EntangleResults, dir: string): { json: string; md: string; html: string } {
    const data = dataLines(r);
    return writeStudyReport(dir, r, {
        title: `Entangled numbers: ${r.target}`,
        description: "",
        head: head(r),
        sections: [
            { md: "", html: charts(r) },
            { md: mdTable(HEADERS, rows(r)), html: htmlTable(HEADERS, rows(r)) },
            { md: `${mdTable(CMP_HEADERS, cmpRows(r))}\n\n${statsLine(r)}`, html: `${htmlTable(CMP_HEADERS, cmpRows(r))}\n<p>${escapeHtml(statsLine(r))}</p>` },
            ...(data.length ? [{ md: data.join("\n\n"), html: data.map((l) => `<p>${escapeHtml(l)}</p>`).join("\n") }] : []),
        ],
        howToRead: HOW_TO_READ,
        seconds: r.seconds,
        version: r.sublabVersion,
    });
}
