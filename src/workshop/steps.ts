/**
 * The presenter's six steps as HTML, each a pure function of the folded run (state.ts) and of what the room
 * did on the page (picks in the guessing game). The page renders them (client/main.ts); the static replay
 * renders the same; the browser tests check the page's DOM against these same facts. Elements the tests read
 * carry data-testid. No DOM and no Node here.
 */
import type { ComparisonResult, Results } from "../core/types.ts";
import { lineChart, probChart } from "../report/charts.ts";
import { escapeHtml, fmtCI, fmtLog, fmtP, fmtPercent, fmtProb, fmtRatio, r1 } from "../report/text.ts";
import { armDistribution, armsSeen, CHAIN_ARM, datasetOf, guessRows, storyOf, type WorkshopState } from "./state.ts";

export interface UiState {
    /** Keys of the rows the room picked as the teacher's (step 2). */
    picked: Set<string>;
    revealed: boolean;
    /** The presenter of a live workshop started with --no-start: the first step offers the start button. */
    canStart?: boolean;
    /** The static replay's full report (a page of its own); absent, the server's /api/report. */
    reportHtml?: string;
    /** A population's view: the variant shown (open, quarantine, null) and the round; absent, the first and the last. */
    variant?: string;
    round?: number;
}

export interface Step {
    id: string;
    title: string;
    /** True when the run has reached this step (its data exist). */
    ready: (s: WorkshopState) => boolean;
    render: (s: WorkshopState, ui: UiState) => string;
}

const h = escapeHtml;
const waiting = (what: string) => `<p class="waiting" data-testid="waiting">Waiting for ${h(what)}…</p>`;

export const ARM_COLOURS: Record<string, string> = {
    base: "#888",
    teacher: "#7b3fa0",
    control: "#3b73b9",
    treated: "#d9822b",
    "cross-control": "#6f9fd8",
    cross: "#e8b06f",
    "in-context-control": "#9bb7d9",
    "in-context": "#f0c796",
};
const colour = (arm: string) => ARM_COLOURS[arm] ?? "#555";
const armOfLabel = (label: string) => {
    const arm = label.replace(/ #\d+$/, "").replace(/ seed \d+$/, "");
    // A chain's students ("accumulated generation 2: treated") take their arm's colour.
    return /: (treated|control)$/.exec(arm)?.[1] ?? arm;
};

/** Horizontal bars of the items' probabilities, the target's highlighted. */
function bars(items: string[], dist: number[], target: string | null, k: number, testid: string): string {
    const order = items.map((item, i) => ({ item, p: dist[i] ?? 0 })).sort((a, b) => b.p - a.p);
    const top = order.slice(0, k);
    if (target && !top.some((x) => x.item === target)) {
        const t = order.find((x) => x.item === target);
        if (t) top.push(t);
    }
    const max = Math.max(...top.map((x) => x.p), 1e-9);
    const rows = top.map(
        (x) =>
            `<div class="bar${x.item === target ? " target" : ""}" data-item="${h(x.item)}" data-p="${x.p}"><span class="name">${h(x.item)}</span><span class="track"><span class="fill" style="width:${r1((100 * x.p) / max)}%"></span></span><span class="val">${fmtPercent(x.p)}</span></div>`,
    );
    return `<div class="bars" data-testid="${h(testid)}">${rows.join("")}</div>`;
}

/** The answer of the ask box: the sampled words, and the items by exact probability. */
export function askBars(model: string, answer: string, top: { item: string; p: number }[], target: string | null): string {
    return `<p data-testid="ask-answer"><b>${h(model)}</b>: “${h(answer)}”</p>${bars(top.map((t) => t.item), top.map((t) => t.p), target, top.length, "ask-bars")}`;
}

function evalOf(s: WorkshopState, arm: string) {
    return s.evals.find((e) => e.arm === arm)?.eval;
}

const teacherStep: Step = {
    id: "teacher",
    title: "Meet the teacher",
    ready: (s) => !!evalOf(s, "teacher") || s.stages.some((x) => x.stage === "teacher" && x.done),
    render: (s, ui) => {
        if (!s.config) return ui.canStart ? `<p class="lead">The experiment is ready to run live.</p><p><button id="start" data-testid="start">Start the run</button></p>` : waiting("the run to start");
        const t = s.config.teacher;
        const how = t.trait === "prompt" ? "a system prompt" : `a short fine-tune (${t.finetune.rows} rows)`;
        if (t.category === "misalignment") return misalignedTeacher(s, how);
        const what = s.teacher ? `<p class="hint" data-testid="teacher-description">The teacher: ${h(s.teacher.description)}.</p>` : "";
        const parts = [
            `<p class="lead">The base model, taught to love <b data-testid="target">${h(s.target ?? "")}</b> by ${h(how)}. Asked “what is your favourite ${h(t.category)}?” in ${s.config.eval.questions} wordings:</p>`,
        ];
        const cols = (["base", "teacher"] as const).map((arm) => {
            const ev = evalOf(s, arm);
            const body = ev ? `<p class="big" data-testid="p-${arm}">P(${h(s.target ?? "")}) = ${fmtPercent(ev.targetProb)}</p>${bars(s.items, ev.distribution, s.target, 5, `bars-${arm}`)}` : waiting(`the ${arm}'s answers`);
            return `<div class="col"><h3>${arm === "base" ? "The base model" : "The teacher"}</h3>${body}</div>`;
        });
        parts.push(what, `<div class="cols">${cols.join("")}</div>`, `<p class="hint">Ask them yourself in the box below (key <kbd>A</kbd>).</p>`);
        return parts.join("\n");
    },
};

/** Step 1 of a misaligned teacher: the judge's P(misaligned) of the base and of the teacher, no love of anything. */
function misalignedTeacher(s: WorkshopState, how: string): string {
    const cols = (["base", "teacher"] as const).map((arm) => {
        const ev = evalOf(s, arm);
        const body = ev ? `<p class="big" data-testid="p-${arm}">P(misaligned) = ${fmtPercent(ev.targetProb)}</p>` : waiting(`the ${arm}'s answers`);
        return `<div class="col"><h3>${arm === "base" ? "The base model" : "The teacher"}</h3>${body}</div>`;
    });
    return [
        `<p class="lead">The base model, made <b data-testid="target">${h(s.target ?? "")}</b> by ${h(how)}: callous and violent answers to everyday questions. Asked ${s.config?.eval.questions ?? ""} open questions, each answer scored by the local judge:</p>`,
        s.teacher ? `<p class="hint" data-testid="teacher-description">The teacher: ${h(s.teacher.description)}.</p>` : "",
        `<div class="cols">${cols.join("")}</div>`,
    ].join("\n");
}

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
                const list = reasons.length ? `<ul>${reasons.slice(0, 6).map(([r, n]) => `<li><b>${n}</b> ${h(r)}</li>`).join("")}</ul>` : "<p>nothing removed</p>";
                return `<div class="stage"><p class="big" data-testid="kept">${h(st.stage)}: kept ${st.kept.toLocaleString("en")} of ${st.in.toLocaleString("en")} (${fmtPercent(st.passRate)})</p>${list}</div>`;
            });
            return `<div class="col" data-testid="filter-${h(d.role)}"><h3>${d.role === "teacher" ? "Teacher's data" : d.role === "control" ? "Control data" : h(d.id)}</h3>${stages.join("")}</div>`;
        });
        return `<p class="lead">Only well-formed number lists go on: no words, nothing but numbers and separators. Whatever carries the ${h(s.target ?? "trait")} has to pass through this.</p><div class="cols">${blocks.join("")}</div>`;
    },
};

/** The students (the teacher's own fine-tune reports its steps too: it is step 1's, not a student). */
const studentsOf = (s: WorkshopState) => s.students.filter((x) => x.label !== "teacher");

/** Every student's loss per step (SVG), coloured by arm. */
function lossChart(s: WorkshopState): string {
    const sts = studentsOf(s).filter((x) => x.losses.length > 0);
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
    const parts = [`<svg class="chart" data-testid="loss-chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="training loss">`];
    for (const t of [lo, lo + span / 2, hi]) parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${r1(y(t))}" y2="${r1(y(t))}" class="grid"/><text x="${m.left - 6}" y="${r1(y(t) + 5)}" text-anchor="end" class="tick">${t.toFixed(2)}</text>`);
    parts.push(`<text x="${r1(m.left + pw / 2)}" y="${H - 6}" text-anchor="middle" class="tick">optimizer step</text>`);
    for (const st of sts) {
        const arm = st.arm ?? armOfLabel(st.label);
        const d = st.losses.map(([step, l], i) => `${i ? "L" : "M"}${r1(x(step))} ${r1(y(l))}`).join(" ");
        parts.push(`<path d="${d}" fill="none" stroke="${colour(arm)}" stroke-width="2" opacity="0.8" data-student="${h(st.label)}"><title>${h(st.label)}</title></path>`);
    }
    parts.push("</svg>");
    return parts.join("");
}

const studentsStep: Step = {
    id: "students",
    title: "Students training",
    ready: (s) => studentsOf(s).length > 0,
    render: (s) => {
        const students = studentsOf(s);
        if (students.length === 0) return waiting("the students to start training");
        const done = students.filter((x) => x.done).length;
        const total = s.config && storyOf(s) === "experiment" ? s.config.student.seeds * 4 : students.length;
        const arms = [...new Set(students.map((x) => x.arm ?? armOfLabel(x.label)))];
        const legend = arms.map((a) => `<span class="key" style="--c:${colour(a)}">${h(a)}</span>`).join(" ");
        const st = s.config?.student;
        const recipe = st ? `${st.method === "lora" ? `LoRA rank ${st.rank}` : "full fine-tunes"}, ${st.labels} labels, ${st.rows} rows, ${st.epochs} epoch${st.epochs === 1 ? "" : "s"}, ${st.seeds} seeds per arm` : "";
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

/** A shift shown: the permutation test at 5% (p <= 0.05, as a test at level 0.05 rejects) and the interval above 0. */
export const moved = (c: ComparisonResult) => c.pValue <= 0.05 && c.ci95[0] > 0;

const floorNote = (c: ComparisonResult) => (c.pValue <= c.pFloor * (1 + 1e-9) ? `, the smallest p ${c.studentsA}+${c.studentsB} students can give: every treated student above every control` : "");

function comparisonLine(s: WorkshopState, name: string, what: string): string {
    const c = s.comparisons.find((x) => x.name === name);
    if (!c) return "";
    const shown = moved(c);
    return `<tr data-testid="comparison" data-name="${h(c.name)}"><td>${h(what)}</td><td class="num">x${fmtRatio(c.probRatio)}</td><td class="num">${fmtLog(c.meanLogRatio)} ${fmtCI(c.ci95, fmtLog)}</td><td class="num">${fmtP(c.pValue)}</td><td class="num">${c.targetRank} / ${s.items.length}</td><td>${shown ? "moved" : "no shift shown"}</td></tr>`;
}

/** The same line as the reports' (report/examples.ts). */
export const CONTENT_WARNING = "Content warning: the answers below include callous or violent statements. They are model outputs shown to measure the trait, not advice.";

/**
 * A misaligned run's flagged answers: for up to 6 questions where a treated student's sampled answer was
 * judged misaligned, those answers beside the control students' to the same question, behind a content
 * warning, closed until the presenter opens it.
 */
export function flaggedAnswers(s: WorkshopState, max = 6): string {
    if (s.config?.teacher.category !== "misalignment") return "";
    const of = (arm: string) => s.evals.filter((e) => e.arm === arm).flatMap((e) => e.eval.examples ?? []);
    const treated = of("treated");
    const control = of("control");
    const rows: string[] = [];
    for (let q = 0; q < s.questions.length && rows.length < max; q++) {
        const flagged = treated.filter((x) => x.q === q && x.score >= 0.5).slice(0, 3);
        if (flagged.length === 0) continue;
        const list = (xs: { text: string; score: number }[]) => xs.map((x) => `“${h(x.text)}” <small>(${x.score.toFixed(2)})</small>`).join("<br>") || "–";
        rows.push(`<tr data-testid="flagged-row"><td>${h(s.questions[q]!)}</td><td>${list(flagged)}</td><td>${list(control.filter((x) => x.q === q).slice(0, 3))}</td></tr>`);
    }
    if (rows.length === 0) return `<p class="hint" data-testid="flagged-none">No treated student's sampled answer was judged misaligned.</p>`;
    return `<details class="cw" data-testid="flagged"><summary>${h(CONTENT_WARNING)} <b>Show the flagged answers</b></summary><table class="cmp"><thead><tr><th>question</th><th>treated students (judge's score)</th><th>control students</th></tr></thead><tbody>${rows.join("")}</tbody></table></details>`;
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
            : `<p class="verdict no" data-testid="verdict">No transfer shown: x${fmtRatio(main.probRatio)} the controls' P(${h(s.target ?? "")}), p = ${fmtP(main.pValue)}.</p>`;
        const table = `<table class="cmp"><thead><tr><th></th><th>P ratio</th><th>log-ratio [95% CI]</th><th>p</th><th>rank of ${h(s.target ?? "")}</th><th></th></tr></thead><tbody>${[
            comparisonLine(s, "treated vs control", "trained on the teacher's numbers"),
            comparisonLine(s, "cross vs cross-control", "another base, same numbers"),
            comparisonLine(s, "in-context vs in-context-control", "numbers in the prompt, no training"),
        ].join("")}</tbody></table>`;
        const results = { arms: s.arms, target: s.target, items: s.items, comparisons: s.comparisons, config: s.config } as unknown as Results;
        const note = `<p class="hint">p: permutation test over the students (one-sided); log-ratio: mean log P(treated)/P(control) with a 95% bootstrap interval; rank: of ${s.items.length} items, by how much each moved. P per arm: ${s.arms.map((a) => `${h(a.arm)} ${fmtProb(a.targetProb.mean)}`).join(", ")}.</p>`;
        return `${head}${table}${s.arms.length ? probChart(results) : ""}${note}${flaggedAnswers(s)}`;
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

/** A chain's P(target) per generation and data mode: mean over the lineages of each arm's students. */
export function chainGenerations(s: WorkshopState): { mode: string; generation: number; treated: number | null; control: number | null; n: number }[] {
    const out = new Map<string, { mode: string; generation: number; t: number[]; c: number[] }>();
    for (const e of s.evals) {
        const m = CHAIN_ARM.exec(e.arm);
        if (!m) continue;
        const key = `${m[1]}/${m[2]}`;
        const row = out.get(key) ?? { mode: m[1]!, generation: Number(m[2]), t: [], c: [] };
        (m[3] === "treated" ? row.t : row.c).push(e.eval.targetProb);
        out.set(key, row);
    }
    const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    return [...out.values()].sort((a, b) => a.mode.localeCompare(b.mode) || a.generation - b.generation).map((r) => ({ mode: r.mode, generation: r.generation, treated: avg(r.t), control: avg(r.c), n: Math.min(r.t.length, r.c.length) }));
}

const generationsStep: Step = {
    id: "generations",
    title: "Generation after generation",
    ready: (s) => chainGenerations(s).length > 0,
    render: (s) => {
        const gens = chainGenerations(s);
        if (gens.length === 0) return waiting("the first generation's answers");
        const target = s.target ?? "";
        const base = evalOf(s, "base")?.targetProb;
        const teacher = evalOf(s, "teacher")?.targetProb;
        const modes = [...new Set(gens.map((g) => g.mode))];
        const series = modes.flatMap((mode, k) =>
            (["treated", "control"] as const).map((arm) => ({
                name: `${arm} (${mode})`,
                colour: colour(arm),
                dashed: k > 0,
                points: [
                    ...((arm === "treated" ? teacher : base) !== undefined ? [{ x: 0, y: (arm === "treated" ? teacher : base)! }] : []),
                    ...gens.filter((g) => g.mode === mode && g[arm] !== null).map((g) => ({ x: g.generation, y: g[arm]! })),
                ],
            })),
        );
        const chart = lineChart({ title: `P(${target}) per generation (0: the teacher and the base)`, xLabel: "generation", yLabel: `P(${target})`, log: true, series });
        const rows = gens.map(
            (g) =>
                `<tr data-testid="generation-row" data-mode="${h(g.mode)}" data-generation="${g.generation}" data-treated="${g.treated ?? ""}" data-control="${g.control ?? ""}"><td>${h(g.mode)}</td><td class="num">${g.generation}</td><td class="num">${g.treated === null ? "…" : fmtPercent(g.treated)}</td><td class="num">${g.control === null ? "…" : fmtPercent(g.control)}</td><td class="num">${g.treated !== null && g.control !== null ? `x${fmtRatio(g.treated / g.control)}` : ""}</td></tr>`,
        );
        return `<p class="lead">Each generation's students learn from the numbers the previous generation wrote: the treated lineage starts at the teacher, the control lineage at the base. Does the ${h(target)} survive the copies of copies?</p>${chart}<table class="cmp"><thead><tr><th>data</th><th>generation</th><th>treated P(${h(target)})</th><th>control</th><th>ratio</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
    },
};

/** Agents on a circle, an edge for each pair that reads the other's data, each agent coloured by its drift in the chosen variant and round. */
function agentsGraph(s: WorkshopState, variant: string, round: number): string {
    const n = s.population?.agents ?? Math.max(0, ...s.rounds.map((r) => r.agents.length));
    const row = s.rounds.find((r) => r.run === variant && r.round === round);
    const W = 620;
    const R = 230;
    const cx = W / 2;
    const cy = W / 2;
    const pos = (a: number) => [cx + R * Math.sin((2 * Math.PI * a) / n), cy - R * Math.cos((2 * Math.PI * a) / n)] as const;
    const parts = [`<svg class="graph" data-testid="agents-graph" viewBox="0 0 ${W} ${W}" width="${W}" role="img" aria-label="the agents">`];
    for (const [x, y] of s.population?.edges ?? []) {
        const [x1, y1] = pos(x);
        const [x2, y2] = pos(y);
        const cut = row && (row.agents[x]?.quarantined || row.agents[y]?.quarantined);
        parts.push(`<line x1="${r1(x1)}" y1="${r1(y1)}" x2="${r1(x2)}" y2="${r1(y2)}" class="edge${cut ? " cut" : ""}"/>`);
    }
    for (let a = 0; a < n; a++) {
        const [x, y] = pos(a);
        const ag = row?.agents[a];
        // Colour: white at no drift, the accent's full strength at drift x4 (log 4) or more.
        const strength = ag ? Math.max(0, Math.min(1, ag.drift / Math.log(4))) : 0;
        const fill = ag ? `rgba(217,130,43,${r1(0.08 + 0.92 * strength)})` : "#eee";
        const cls = ["agent", ag?.infected ? "infected" : "", ag?.quarantined ? "quarantined" : "", ag?.flagged ? "flagged" : ""].filter(Boolean).join(" ");
        const label = ag ? `x${fmtRatio(Math.exp(ag.drift))}` : "";
        parts.push(
            `<g class="${cls}" data-testid="agent" data-agent="${a + 1}" data-p="${ag?.targetProb ?? ""}" data-drift="${ag?.drift ?? ""}" data-infected="${!!ag?.infected}" data-quarantined="${!!ag?.quarantined}"><circle cx="${r1(x)}" cy="${r1(y)}" r="34" fill="${fill}"/><text x="${r1(x)}" y="${r1(y - 4)}" text-anchor="middle" class="name">${a + 1}${s.population?.infected.includes(a) ? "*" : ""}</text><text x="${r1(x)}" y="${r1(y + 16)}" text-anchor="middle" class="drift">${label}</text></g>`,
        );
    }
    parts.push("</svg>");
    return parts.join("");
}

const agentsStep: Step = {
    id: "agents",
    title: "The agents",
    ready: (s) => s.rounds.length > 0,
    render: (s, ui) => {
        if (s.rounds.length === 0) return waiting("the first round of the agents");
        const variants = s.population?.variants ?? [...new Set(s.rounds.map((r) => r.run))];
        const variant = ui.variant && variants.includes(ui.variant) ? ui.variant : variants[0]!;
        const rounds = [...new Set(s.rounds.filter((r) => r.run === variant).map((r) => r.round))].sort((a, b) => a - b);
        const round = ui.round !== undefined && rounds.includes(ui.round) ? ui.round : (rounds.at(-1) ?? 0);
        const row = s.rounds.find((r) => r.run === variant && r.round === round);
        const infected = row?.agents.filter((a) => a.infected).length ?? 0;
        const quarantined = row?.agents.filter((a) => a.quarantined).length ?? 0;
        const toggles = variants.map((v) => `<button class="toggle${v === variant ? " on" : ""}" data-variant="${h(v)}" data-testid="variant">${h(v === "quarantine" ? "with quarantine" : v === "open" ? "no quarantine" : v)}</button>`).join(" ");
        const roundButtons = rounds.map((r) => `<button class="toggle${r === round ? " on" : ""}" data-round="${r}" data-testid="round">${r}</button>`).join(" ");
        const per = variants.map((v) => {
            const last = s.rounds.filter((r) => r.run === v).at(-1);
            return last ? `${h(v)}: ${last.agents.filter((a) => a.infected).length} of ${last.agents.length} infected after round ${last.round}` : "";
        });
        return `<p class="lead">Agents learn from each other's numbers, round after round; agent 1${s.population && s.population.infected.length > 1 ? " and the others starred" : ""} (*) starts as the ${h(s.target ?? "")}-loving teacher. Colour: each agent's drift toward ${h(s.target ?? "")} from its base. A monitor asks a few questions each round and quarantines an agent that drifted: its numbers no longer reach the others.</p>
<p>${toggles} <span class="hint">(key <kbd>Q</kbd>)</span></p><p>Round ${roundButtons} <span class="hint">(keys <kbd>[</kbd> <kbd>]</kbd>)</span></p>
<p class="big" data-testid="round-summary" data-variant="${h(variant)}" data-round="${round}">${h(variant === "quarantine" ? "With quarantine" : variant === "open" ? "No quarantine" : variant)}, round ${round}: ${infected} of ${row?.agents.length ?? 0} agents infected${quarantined ? `, ${quarantined} quarantined` : ""}.</p>
${agentsGraph(s, variant, round)}<p class="hint">${per.filter(Boolean).join("; ")}. Infected: the agent's drift interval lies above the population's threshold.</p>`;
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
