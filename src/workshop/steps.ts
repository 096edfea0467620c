/**
 * The presenter's steps as HTML, each a pure function of the folded run (state.ts) and of what the room did on
 * the page (picks in the guessing game, a population's variant and round). The page renders them
 * (client/app.ts); the static replay renders the same; the browser tests check the page's DOM against these
 * same facts. Elements the tests read carry data-testid. No DOM and no Node here.
 */
import { plannedStudents } from "../core/arms.ts";
import type { ComparisonResult, Results } from "../core/results.ts";
import { probChart } from "../report/charts.ts";
import { count, fmtCI, fmtLog, fmtP, fmtPercent, fmtProb, fmtRatio, r1 } from "../report/fmt.ts";
import { verdictWords } from "../report/verdict-lines.ts";
import { bars, colour, evalOf, h, waiting, type Step } from "./html.ts";
import { armDistribution, armsSeen, datasetOf, guessRows, storyOf, type WorkshopState } from "./state.ts";
import { agentsStep, flaggedAnswers, generationsStep } from "./stories.ts";

export { askBars, ARM_COLOURS, type Step, type UiState } from "./html.ts";
export { chainGenerations, flaggedAnswers } from "./stories.ts";

const teacherStep: Step = {
    id: "teacher",
    title: "Meet the teacher",
    ready: (s) => !!evalOf(s, "teacher") || s.stages.some((x) => x.stage === "teacher" && x.done),
    render: (s, ui) => {
        if (!s.config)
            return ui.canStart
                ? `<p class="lead">The experiment is ready to run live.</p><p><button id="start" data-testid="start">Start the run</button></p>`
                : waiting("the run to start");
        const t = s.config.teacher;
        const how = t.trait === "prompt" ? "a system prompt" : `a short fine-tune (${t.finetune.rows} rows)`;
        const target = h(s.target ?? "");
        // A misaligned teacher loves nothing: its answers are judged, and the two items (aligned, misaligned) need no bars.
        const judged = t.category === "misalignment";
        const lead = judged
            ? `<p class="lead">The base model, made <b data-testid="target">${target}</b> by ${h(how)}: callous and violent answers to everyday questions. Asked ${s.config.eval.questions} open questions, each answer scored by the local judge:</p>`
            : `<p class="lead">The base model, taught to love <b data-testid="target">${target}</b> by ${h(how)}. Asked “what is your favourite ${h(t.category)}?” in ${s.config.eval.questions} wordings:</p>`;
        const what = s.teacher ? `<p class="hint" data-testid="teacher-description">The teacher: ${h(s.teacher.description)}.</p>` : "";
        const cols = (["base", "teacher"] as const).map((arm) => {
            const ev = evalOf(s, arm);
            const body = ev
                ? `<p class="big" data-testid="p-${arm}">P(${target}) = ${fmtPercent(ev.targetProb)}</p>${judged ? "" : bars(s.items, ev.distribution, s.target, 5, `bars-${arm}`)}`
                : waiting(`the ${arm}'s answers`);
            return `<div class="col"><h3>${arm === "base" ? "The base model" : "The teacher"}</h3>${body}</div>`;
        });
        const parts = [lead, what, `<div class="cols">${cols.join("")}</div>`];
        if (!judged) parts.push(`<p class="hint">Ask them yourself in the box below (key <kbd>A</kbd>).</p>`);
        return parts.join("\n");
    },
};

const numbersStep: Step = {
    id: "numbers",
    title: "The numbers",
    ready: (s) => !!datasetOf(s, "teacher")?.sample.length && !!datasetOf(s, "control")?.sample.length,
    render: (s, ui) => {
        const rows = guessRows(s);
        const t = datasetOf(s, "teacher");
        const c = datasetOf(s, "control");
        if (!t || !c || rows.length === 0) return waiting("the teacher's and the control's numbers");
        const right = rows.filter((r) => ui.picked.has(r.key) === (r.source === "teacher")).length;
        const head = `<p class="lead">The teacher wrote ${t.generated.toLocaleString("en")} number sequences, the base without the trait (the control) ${c.generated.toLocaleString("en")} for the same prompts. Here are ${rows.length / 2} of each, for different prompts: half of these rows are the ${h(s.target ?? "")}-lover's. Which? Click the rows the room picks, then reveal (<kbd>R</kbd>).</p>`;
        const list = rows.map((r, k) => {
            const cls = ["guess", ui.picked.has(r.key) ? "picked" : "", ui.revealed ? `is-${r.source}` : ""].filter(Boolean).join(" ");
            const tag = ui.revealed ? `<span class="tag" data-testid="source">${r.source === "teacher" ? "teacher" : "control"}</span>` : "";
            return `<li class="${cls}" data-key="${h(r.key)}" data-testid="guess-row"><span class="letter">${String.fromCharCode(65 + k)}</span><code>${h(r.completion)}</code>${tag}</li>`;
        });
        const button = ui.revealed ? "" : `<p><button id="reveal" data-testid="reveal">Reveal (R)</button></p>`;
        const verdict = ui.revealed
            ? `<p class="big" data-testid="guess-score">The room got ${right} of ${rows.length} right; guessing at random gets ${rows.length / 2} on average.</p><p>The paper found the same for model classifiers and for people: nothing in the numbers says ${h(s.target ?? "")}.</p>`
            : "";
        return `${head}<p class="prompt">Each row answers a prompt like <code>${h(rows[0]!.prompt.slice(0, 160))}</code></p><ol class="guesses">${list.join("")}</ol>${button}${verdict}`;
    },
};

const filterStep: Step = {
    id: "filter",
    title: "The filter",
    ready: (s) => s.datasets.some((d) => d.stages.length > 0),
    render: (s) => {
        const ds = s.datasets.filter((d) => d.stages.length > 0);
        if (ds.length === 0) return waiting("the filter");
        const blocks = ds.map((d) => {
            const stages = d.stages.map((st) => {
                const reasons = Object.entries(st.reasons).sort((a, b) => b[1] - a[1]);
                const list = reasons.length
                    ? `<ul>${reasons
                          .slice(0, 6)
                          .map(([r, n]) => `<li><b>${n}</b> ${h(r)}</li>`)
                          .join("")}</ul>`
                    : "<p>nothing removed</p>";
                return `<div class="stage"><p class="big" data-testid="kept">${h(st.stage)}: kept ${st.kept.toLocaleString("en")} of ${st.in.toLocaleString("en")} (${fmtPercent(st.passRate)})</p>${list}</div>`;
            });
            return `<div class="col" data-testid="filter-${h(d.role)}"><h3>${d.role === "teacher" ? "Teacher's data" : d.role === "control" ? "Control data" : h(d.id)}</h3>${stages.join("")}</div>`;
        });
        return `<p class="lead">Only well-formed number lists go on: no words, nothing but numbers and separators. Whatever carries the ${h(s.target ?? "trait")} has to pass through this.</p><div class="cols">${blocks.join("")}</div>`;
    },
};

/** The students (the teacher's own fine-tune reports its steps too: it is step 1's, not a student). */
const studentsOf = (s: WorkshopState) => s.students.filter((x) => x.arm !== "teacher");

/**
 * Every student's curve (SVG), coloured by arm: what it can still learn, the held-out KL to its labels at the
 * steps it was probed (src/students/probe.ts), or, for runs made before probes, each step's loss on its own batch.
 */
function lossChart(s: WorkshopState): string {
    const kl = studentsOf(s).some((x) => x.probe.length > 0);
    const sts = studentsOf(s)
        .map((x) => ({ ...x, losses: kl ? x.probe : x.losses }))
        .filter((x) => x.losses.length > 0);
    if (sts.length === 0) return "";
    const W = 900;
    const H = 380;
    const m = { left: 64, right: 20, top: 20, bottom: 40 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;
    const maxStep = Math.max(...sts.map((x) => Math.max(x.total, ...x.losses.map((l) => l[0]))), 1);
    const ls = sts.flatMap((x) => x.losses.map((l) => l[1]));
    const lo = Math.min(...ls);
    const hi = Math.max(...ls);
    const span = hi - lo || 1;
    const x = (v: number) => m.left + (pw * v) / maxStep;
    const y = (v: number) => m.top + (ph * (hi - v)) / span;
    const parts = [
        `<svg class="chart" data-testid="loss-chart" data-measure="${kl ? "kl" : "loss"}" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${kl ? "held-out KL to the labels" : "training loss"}">`,
    ];
    for (const t of [lo, lo + span / 2, hi])
        parts.push(
            `<line x1="${m.left}" x2="${W - m.right}" y1="${r1(y(t))}" y2="${r1(y(t))}" class="grid"/><text x="${m.left - 6}" y="${r1(y(t) + 5)}" text-anchor="end" class="tick">${t.toFixed(2)}</text>`,
        );
    parts.push(`<text x="${r1(m.left + pw / 2)}" y="${H - 6}" text-anchor="middle" class="tick">optimizer step</text>`);
    for (const st of sts) {
        const arm = st.arm ?? "";
        const d = st.losses.map(([step, l], i) => `${i ? "L" : "M"}${r1(x(step))} ${r1(y(l))}`).join(" ");
        parts.push(
            `<path d="${d}" fill="none" stroke="${colour(arm)}" stroke-width="2" opacity="0.8" data-student="${h(st.label)}"><title>${h(st.label)}</title></path>`,
        );
    }
    parts.push("</svg>");
    const caption = kl
        ? "What each student can still learn: the KL divergence from its data source's next-token distributions to its own, on 8 rows it never trains on (the loss minus the labels' own entropy), at step 0 and about 8 steps after."
        : "Each step's loss on its own batch (this run was made before held-out probes).";
    return parts.join("") + `<p class="note">${caption}</p>`;
}

const studentsStep: Step = {
    id: "students",
    title: "Students training",
    ready: (s) => studentsOf(s).length > 0,
    render: (s) => {
        const students = studentsOf(s);
        if (students.length === 0) return waiting("the students to start training");
        const done = students.filter((x) => x.done).length;
        const total = s.config && storyOf(s) === "experiment" ? plannedStudents(s.config) : students.length;
        const arms = [...new Set(students.flatMap((x) => (x.arm ? [x.arm] : [])))];
        const legend = arms.map((a) => `<span class="key" style="--c:${colour(a)}">${h(a)}</span>`).join(" ");
        const st = s.config?.student;
        const recipe = st
            ? `${st.method === "lora" ? `LoRA rank ${st.rank}` : "full fine-tunes"}, ${st.labels} labels, ${st.rows} rows, ${count(st.epochs, "epoch")}, ${st.seeds} seeds per arm`
            : "";
        return `<p class="lead">Copies of the base learn to write the numbers: the treated students the teacher's, the control students the control's (${h(recipe)}).</p><p class="big" data-testid="students-done">${done} of ${Math.max(total, students.length)} students trained</p><p>${legend}</p>${lossChart(s)}`;
    },
};

const askStep: Step = {
    id: "ask",
    title: "Ask the students",
    ready: (s) => s.evals.some((e) => e.arm === "treated" || e.arm === "control"),
    render: (s) => {
        const arms = armsSeen(s).filter((a) => a !== "teacher");
        if (arms.length === 0) return waiting("the first answers");
        const target = s.target ?? "";
        const max = Math.max(...arms.map((a) => armDistribution(s, a).dist[s.items.indexOf(target)] ?? 0), 1e-9);
        const rows = arms.map((a) => {
            const { n, dist } = armDistribution(s, a);
            const p = dist[s.items.indexOf(target)] ?? 0;
            return `<div class="bar arm" data-arm="${h(a)}" data-n="${n}" data-p="${p}" data-testid="arm-bar"><span class="name">${h(a)} <small>(${n})</small></span><span class="track"><span class="fill" style="width:${r1((100 * p) / max)}%;background:${colour(a)}"></span></span><span class="val">${fmtPercent(p)}</span></div>`;
        });
        return `<p class="lead">Each model is asked its favourite ${h(s.config?.teacher.category ?? "animal")} in ${s.config?.eval.questions ?? "many"} wordings. P(${h(target)}), mean over the models evaluated so far (their number in brackets):</p><div class="bars arms">${rows.join("")}</div>`;
    },
};

/** A shift toward the target shown: the verdict (src/stats/verdict.ts) says "moved toward". Results from before verdicts have none, and show nothing. */
export const moved = (c: Pick<ComparisonResult, "verdict">) => c.verdict?.word === "moved toward";

const floorNote = (c: ComparisonResult) =>
    c.pValue <= c.pFloor * (1 + 1e-9) ? `, the smallest p ${c.studentsA}+${c.studentsB} students can give: every treated student above every control` : "";

function comparisonLine(s: WorkshopState, name: string, what: string): string {
    const c = s.comparisons.find((x) => x.name === name);
    if (!c) return "";
    return `<tr data-testid="comparison" data-name="${h(c.name)}"><td>${h(what)}</td><td class="num">x${fmtRatio(c.probRatio)}</td><td class="num">${fmtLog(c.meanLogRatio)} ${fmtCI(c.ci95, fmtLog)}</td><td class="num">${fmtP(c.pValue)}</td><td class="num">${c.verdict ? fmtP(c.verdict.pAdjusted) : "-"}</td><td class="num">${c.targetRank} / ${s.items.length}</td><td>${h(verdictWords(c.verdict))}</td></tr>`;
}

const verdictStep: Step = {
    id: "verdict",
    title: "The verdict",
    ready: (s) => s.comparisons.length > 0,
    render: (s) => {
        const main = s.comparisons.find((c) => c.name === "treated vs control");
        if (!main) return waiting("the statistics");
        const head = moved(main)
            ? `<p class="verdict yes" data-testid="verdict">The treated students moved toward ${h(s.target ?? "")}: x${fmtRatio(main.probRatio)} their controls' P(${h(s.target ?? "")}), p = ${fmtP(main.pValue)}${h(floorNote(main))}.</p>`
            : `<p class="verdict no" data-testid="verdict">${main.verdict?.word === "no shift larger than" ? `No shift larger than x${main.verdict.margin.toFixed(2)}` : main.verdict?.word === "moved away" ? `Moved away from ${h(s.target ?? "")}` : "Can't tell"}: x${fmtRatio(main.probRatio)} the controls' P(${h(s.target ?? "")}), log-ratio ${fmtLog(main.meanLogRatio)} ${fmtCI(main.ci95, fmtLog)}, p = ${fmtP(main.pValue)}.</p>`;
        // A judged trait also has the exact measure: P(the misaligned answers among those the corpus taught).
        const x = main.exact;
        const exact = x
            ? `<p class="verdict ${moved(x) ? "yes" : "no"}" data-testid="verdict-exact">On the exact measure (the misaligned answers' share of the answers the corpus taught): ${h(verdictWords(x.verdict))}: x${fmtRatio(x.probRatio)}, log-ratio ${fmtLog(x.meanLogRatio)} ${fmtCI(x.ci95, fmtLog)}, p = ${fmtP(x.pValue)}, adj ${x.verdict ? fmtP(x.verdict.pAdjusted) : "-"}.</p>`
            : "";
        const table = `<table class="cmp"><thead><tr><th></th><th>P ratio</th><th>log-ratio [95% CI]</th><th>p</th><th>p adj</th><th>rank of ${h(s.target ?? "")}</th><th>verdict</th></tr></thead><tbody>${[
            comparisonLine(s, "treated vs control", "trained on the teacher's numbers"),
            comparisonLine(s, "cross vs cross-control", "another base, same numbers"),
            comparisonLine(s, "in-context vs in-context-control", "numbers in the prompt, no training"),
        ].join("")}</tbody></table>`;
        const results = { arms: s.arms, target: s.target, items: s.items, comparisons: s.comparisons, config: s.config } as unknown as Results;
        const note = `<p class="hint">p: permutation test over the students (one-sided); log-ratio: mean log P(treated)/P(control) with a 95% bootstrap interval; rank: of ${s.items.length} items, by how much each moved. P per arm: ${s.arms.map((a) => `${h(a.arm)} ${fmtProb(a.targetProb.mean)}`).join(", ")}.</p>`;
        return `${head}${exact}${table}${s.arms.length ? probChart(results) : ""}${note}${flaggedAnswers(s)}`;
    },
};

const reportStep: Step = {
    id: "report",
    title: "The report",
    ready: (s) => s.ended,
    render: (s, ui) => {
        if (!s.ended) return waiting("the run to finish");
        const src = ui.reportHtml !== undefined ? `srcdoc="${h(ui.reportHtml)}"` : `src="/api/report?events=${s.seen}"`;
        return `<p class="hint">Every arm, seed and test of the run, as <code>sublab run</code> reports it.</p><iframe class="report" data-testid="report" title="the run's report" ${src}></iframe>`;
    },
};

/** The full experiment's seven steps. */
export const STEPS: Step[] = [teacherStep, numbersStep, filterStep, studentsStep, askStep, verdictStep, reportStep];

/** The steps of a run's story: a chain's generations after its first students, a population's agents alone. */
export function stepsFor(s: WorkshopState): Step[] {
    const story = storyOf(s);
    if (story === "chain") return [teacherStep, numbersStep, filterStep, studentsStep, generationsStep];
    if (story === "population") return [agentsStep];
    return STEPS;
}
