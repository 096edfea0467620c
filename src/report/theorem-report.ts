/**
 * The theorem experiment's report: a terminal table, report.md and report.html with a dot chart of test
 * accuracy per arm (one dot per seed, the mean with its 95% interval, the chance line).
 */
import type { TheoremArm, TheoremResults } from "../core/results.ts";
import { escapeHtml, fixedWidth, fmtP, htmlTable, mdTable, r1, writeStudyReport } from "./report-files.ts";

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ci = (c: readonly [number, number]) => `[${pct(c[0])}, ${pct(c[1])}]`;
const pp = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}`;

const HEADERS = ["arm", "test accuracy, mean", "95% CI", "range over seeds", "what it is"];

const allArms = (r: TheoremResults): TheoremArm[] => [r.teacher, r.init, ...r.arms];

function rows(r: TheoremResults): string[][] {
    return allArms(r).map((a) => [a.arm, pct(a.mean), ci(a.ci95), `${pct(Math.min(...a.accuracies))}-${pct(Math.max(...a.accuracies))}`, a.description]);
}

const CMP_HEADERS = ["comparison", "difference (points)", "95% CI", "p (two-sided, paired)", "p adj (Holm)", "verdict"];
const OLD_HEADERS = ["comparison", "difference (points)", "95% CI", "p (one-sided, paired)"];

function cmpRows(r: TheoremResults): string[][] {
    return r.comparisons.map((c) => [
        c.verdict ? `${c.a} vs ${c.b}` : `${c.a} > ${c.b}`,
        pp(c.diff),
        `[${pp(c.ci95[0])}, ${pp(c.ci95[1])}]`,
        fmtP(c.p),
        ...(c.verdict ? [fmtP(c.verdict.pAdjusted), c.verdict.text] : []),
    ]);
}

/** Results from before verdicts have a one-sided p and no verdict: their own columns. */
const cmpHeaders = (r: TheoremResults) => (r.comparisons.some((c) => c.verdict) ? CMP_HEADERS : OLD_HEADERS);

/** How the verdicts were drawn, under the table. */
const cmpNote = (r: TheoremResults) =>
    r.stats
        ? `Verdicts: Holm over the ${r.comparisons.length} comparisons at alpha ${r.stats.alpha}; "no difference larger than ${Number((100 * r.stats.margin).toPrecision(3))} points" needs two one-sided tests to put the difference inside that margin; the interval is the paired sign-flip test inverted.`
        : "";

function head(r: TheoremResults): string {
    const o = r.options;
    return (
        `${o.seeds} seeds; teacher: ${o.train} procedural digits, ${o.teacherEpochs} epochs at lr ${o.teacherLr}; students: ${o.noise} uniform-noise images, ` +
        `${o.studentEpochs} epochs at lr ${o.studentLr}, distilled on the teacher's 3 auxiliary logits only (softmax cross-entropy); batch ${o.batch}, Adam; ` +
        `accuracy on ${o.test} held-out digits; chance ${pct(r.chance)}.`
    );
}

export function theoremTable(r: TheoremResults): string {
    return `${head(r)}\n\n${fixedWidth(
        HEADERS.slice(0, 4),
        rows(r).map((x) => x.slice(0, 4)),
    )}\n\n${fixedWidth(cmpHeaders(r), cmpRows(r))}\n${cmpNote(r) ? `${cmpNote(r)}\n` : ""}`;
}

/** Test accuracy per arm on a linear 0-100% axis: seeds as dots, the mean with its 95% interval, chance dashed. */
export function theoremChart(r: TheoremResults): string {
    const arms = allArms(r);
    const W = 760;
    const H = 380;
    const m = { left: 110, right: 16, top: 28, bottom: 100 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;
    const y = (v: number) => m.top + ph * (1 - v);
    const x = (i: number) => m.left + ((i + 0.5) * pw) / arms.length;
    const parts = [
        `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="test accuracy per arm">`,
        `<text x="${m.left}" y="16" class="title">Test accuracy on held-out digits, mean and 95% CI; dots: one per seed</text>`,
    ];
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
        parts.push(
            `<line x1="${m.left}" x2="${W - m.right}" y1="${r1(y(t))}" y2="${r1(y(t))}" class="grid"/>`,
            `<text x="${m.left - 6}" y="${r1(y(t) + 4)}" text-anchor="end" class="tick">${100 * t}%</text>`,
        );
    }
    parts.push(
        `<line x1="${m.left}" x2="${W - m.right}" y1="${r1(y(r.chance))}" y2="${r1(y(r.chance))}" stroke="#c4500f" stroke-dasharray="5 4"/>`,
        `<text x="${m.left + 4}" y="${r1(y(r.chance) - 4)}" class="tick">chance</text>`,
        `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" class="axis"/>`,
        `<text transform="translate(${m.left - 52} ${r1(m.top + ph / 2)}) rotate(-90)" text-anchor="middle" class="tick">test accuracy</text>`,
    );
    arms.forEach((a, i) => {
        const cx = x(i);
        const [lo, hi] = a.ci95;
        parts.push(
            `<line x1="${r1(cx)}" x2="${r1(cx)}" y1="${r1(y(lo))}" y2="${r1(y(hi))}" class="whisker"/>`,
            `<line x1="${r1(cx - 6)}" x2="${r1(cx + 6)}" y1="${r1(y(lo))}" y2="${r1(y(lo))}" class="whisker"/>`,
            `<line x1="${r1(cx - 6)}" x2="${r1(cx + 6)}" y1="${r1(y(hi))}" y2="${r1(y(hi))}" class="whisker"/>`,
        );
        a.accuracies.forEach((v, j) => {
            parts.push(
                `<circle cx="${r1(cx + 12 + (j % 5) * 4)}" cy="${r1(y(v))}" r="2.5" class="seed"><title>${escapeHtml(`${a.arm}, seed ${r.seeds[j]?.seed ?? j + 1}: ${pct(v)}`)}</title></circle>`,
            );
        });
        parts.push(
            `<circle cx="${r1(cx)}" cy="${r1(y(a.mean))}" r="5" class="${a.arm === r.arms[0]?.arm ? "mean hl" : "mean"}"><title>${escapeHtml(`${a.arm}: ${pct(a.mean)} ${ci(a.ci95)}`)}</title></circle>`,
        );
        // Arm names are long: written at a slant under the axis.
        parts.push(`<text transform="translate(${r1(cx + 4)} ${r1(m.top + ph + 14)}) rotate(-30)" text-anchor="end" class="tick">${escapeHtml(a.arm)}</text>`);
    });
    parts.push("</svg>");
    return parts.join("\n");
}

const HOW_TO_READ =
    "Each seed draws its own initialisation, noise images and data order. The teacher learns the digits from their class logits; every " +
    "student sees only uniform noise and the teacher's three auxiliary logits, which no loss ever tied to a class. A student that reads " +
    "the digits above chance has picked up the teacher's class knowledge through that channel (the theorem: a small step toward a " +
    "teacher that shares the student's initialisation moves the student toward the teacher, whatever the inputs). Intervals: bootstrap " +
    "over seeds; p: one-sided paired sign-flip test over seeds (exact for up to 13 seeds).";

/** Writes results.json, report.md and report.html into `dir`. */
export function writeTheoremReport(r: TheoremResults, dir: string): { json: string; md: string; html: string } {
    return writeStudyReport(dir, r, {
        title: "Subliminal learning in a small network: the theorem's auxiliary-logit experiment",
        description: "",
        head: head(r),
        sections: [
            { md: "", html: theoremChart(r) },
            { md: mdTable(HEADERS, rows(r)), html: htmlTable(HEADERS, rows(r)) },
            { md: `${mdTable(cmpHeaders(r), cmpRows(r))}\n\n${cmpNote(r)}`, html: `${htmlTable(cmpHeaders(r), cmpRows(r))}<p>${escapeHtml(cmpNote(r))}</p>` },
        ],
        howToRead: HOW_TO_READ,
        seconds: r.seconds,
        version: r.sublabVersion,
    });
}
