/**
 * The views of the lab's other stories on the workshop page: a misaligned run's flagged answers (behind a
 * content warning), a chain's trait per generation, a population's agents as a graph per
 * round with the quarantine toggled. Pure functions of the folded run, like steps.ts. No DOM and no Node here.
 */
import { lineChart } from "../report/charts.ts";
import { fmtPercent, fmtRatio, r1 } from "../report/fmt.ts";
import { behindWarning, colour, evalOf, h, waiting, type Step, type UiState } from "./html.ts";
import type { WorkshopState } from "./state.ts";

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
        rows.push(
            `<tr data-testid="flagged-row"><td>${h(s.questions[q]!)}</td><td>${list(flagged)}</td><td>${list(control.filter((x) => x.q === q).slice(0, 3))}</td></tr>`,
        );
    }
    if (rows.length === 0) return `<p class="hint" data-testid="flagged-none">No treated student's sampled answer was judged misaligned.</p>`;
    return behindWarning(
        "flagged",
        "Show the flagged answers",
        `<table class="cmp"><thead><tr><th>question</th><th>treated students (judge's score)</th><th>control students</th></tr></thead><tbody>${rows.join("")}</tbody></table>`,
    );
}

/** A chain's P(target) per generation and data mode: mean over the lineages of each arm's students. */
export function chainGenerations(s: WorkshopState): { mode: string; generation: number; treated: number | null; control: number | null; n: number }[] {
    const out = new Map<string, { mode: string; generation: number; t: number[]; c: number[] }>();
    for (const { chain: at, eval: ev } of s.evals) {
        if (!at) continue;
        const key = `${at.mode}/${at.generation}`;
        const row = out.get(key) ?? { mode: at.mode, generation: at.generation, t: [], c: [] };
        (at.arm === "treated" ? row.t : row.c).push(ev.targetProb);
        out.set(key, row);
    }
    const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    return [...out.values()]
        .sort((a, b) => a.mode.localeCompare(b.mode) || a.generation - b.generation)
        .map((r) => ({ mode: r.mode, generation: r.generation, treated: avg(r.t), control: avg(r.c), n: Math.min(r.t.length, r.c.length) }));
}

export const generationsStep: Step = {
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
        const chart = lineChart({
            title: `P(${target}) per generation (0: the teacher and the base)`,
            xLabel: "generation",
            yLabel: `P(${target})`,
            log: true,
            series,
        });
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
        const t = 0.08 + 0.92 * strength;
        const mix = (c: number) => Math.round(255 + (c - 255) * t);
        const fill = ag ? `rgb(${mix(217)},${mix(130)},${mix(43)})` : "#eee";
        const cls = ["agent", ag?.infected ? "infected" : "", ag?.quarantined ? "quarantined" : "", ag?.flagged ? "flagged" : ""].filter(Boolean).join(" ");
        const label = ag ? `x${fmtRatio(Math.exp(ag.drift))}` : "";
        parts.push(
            `<g class="${cls}" data-testid="agent" data-agent="${a + 1}" data-p="${ag?.targetProb ?? ""}" data-drift="${ag?.drift ?? ""}" data-infected="${!!ag?.infected}" data-quarantined="${!!ag?.quarantined}"><circle cx="${r1(x)}" cy="${r1(y)}" r="34" fill="${fill}"/><text x="${r1(x)}" y="${r1(y - 4)}" text-anchor="middle" class="name">${a + 1}${s.population?.infected.includes(a) ? "*" : ""}</text><text x="${r1(x)}" y="${r1(y + 16)}" text-anchor="middle" class="drift">${label}</text></g>`,
        );
    }
    parts.push("</svg>");
    return parts.join("");
}

/**
 * What the agents' step shows: the population's variants and the one chosen (the first unless the room picked
 * another), that variant's rounds and the one chosen (the last unless picked). Null before any round. The page's
 * keys move through the same lists.
 */
export function populationView(s: WorkshopState, ui: UiState): { variants: string[]; variant: string; rounds: number[]; round: number } | null {
    const variants = s.population?.variants ?? [...new Set(s.rounds.map((r) => r.run))];
    if (variants.length === 0) return null;
    const variant = ui.variant && variants.includes(ui.variant) ? ui.variant : variants[0]!;
    const rounds = [...new Set(s.rounds.filter((r) => r.run === variant).map((r) => r.round))].sort((a, b) => a - b);
    const round = ui.round !== undefined && rounds.includes(ui.round) ? ui.round : (rounds.at(-1) ?? 0);
    return { variants, variant, rounds, round };
}

/**
 * A judged population's flagged answers at one variant and round: up to `max` answers the judge flagged, of agents
 * that did not start as the teacher, behind the content warning, closed until the presenter opens it.
 */
export function agentAnswers(s: WorkshopState, variant: string, round: number, max = 6): string {
    if (s.config?.teacher.category !== "misalignment") return "";
    const teacher = !variant.startsWith("null") ? (s.population?.infected ?? []) : [];
    const prefix = `${variant} round ${round}: agent `;
    const flagged = s.evals.flatMap((e) => {
        if (!e.label.startsWith(prefix)) return [];
        const agent = Number(e.label.slice(prefix.length)) - 1;
        if (teacher.includes(agent)) return [];
        return (e.eval.examples ?? []).filter((x) => x.score >= 0.5).map((x) => ({ agent, ...x }));
    });
    if (flagged.length === 0)
        return `<p class="hint" data-testid="agent-answers-none">No answer of an agent that did not start as the teacher was judged misaligned in this round.</p>`;
    const rows = flagged
        .slice(0, max)
        .map(
            (x) =>
                `<tr data-testid="agent-answer"><td>${x.agent + 1}</td><td>${h(s.questions[x.q] ?? "")}</td><td>“${h(x.text)}” <small>(${x.score.toFixed(2)})</small></td></tr>`,
        );
    return behindWarning(
        "agent-answers",
        `Show ${flagged.length} flagged answer${flagged.length === 1 ? "" : "s"} of this round`,
        `<table class="cmp"><thead><tr><th>agent</th><th>question</th><th>answer (judge's score)</th></tr></thead><tbody>${rows.join("")}</tbody></table>`,
    );
}

export const agentsStep: Step = {
    id: "agents",
    title: "The agents",
    ready: (s) => s.rounds.length > 0,
    render: (s, ui) => {
        if (s.rounds.length === 0) return waiting("the first round of the agents");
        const { variants, variant, rounds, round } = populationView(s, ui)!;
        const row = s.rounds.find((r) => r.run === variant && r.round === round);
        const infected = row?.agents.filter((a) => a.infected).length ?? 0;
        const quarantined = row?.agents.filter((a) => a.quarantined).length ?? 0;
        const toggles = variants
            .map(
                (v) =>
                    `<button class="toggle${v === variant ? " on" : ""}" data-variant="${h(v)}" data-testid="variant">${h(v === "quarantine" ? "with quarantine" : v === "open" ? "no quarantine" : v)}</button>`,
            )
            .join(" ");
        const roundButtons = rounds
            .map((r) => `<button class="toggle${r === round ? " on" : ""}" data-round="${r}" data-testid="round">${r}</button>`)
            .join(" ");
        const per = variants.map((v) => {
            const last = s.rounds.filter((r) => r.run === v).at(-1);
            return last ? `${h(v)}: ${last.agents.filter((a) => a.infected).length} of ${last.agents.length} infected after round ${last.round}` : "";
        });
        const judged = s.config?.teacher.category === "misalignment";
        const what = s.population?.conversation
            ? "Agents ask their neighbours questions and learn from the answers, round after round, through a door that removes the answers a filter catches"
            : "Agents learn from each other's numbers, round after round";
        const teacher = judged ? "misaligned teacher (callous and violent answers)" : `${h(s.target ?? "")}-loving teacher`;
        return `<div class="cols"><div class="col"><p class="lead">${what}; agent 1${s.population && s.population.infected.length > 1 ? " and the others starred" : ""} (*) starts as the ${teacher}. Colour: each agent's drift toward ${h(s.target ?? "")} from its base. A monitor asks a few questions each round and quarantines an agent that drifted: what it writes no longer reaches the others.</p>
<p>${toggles} <span class="hint">(key <kbd>Q</kbd>)</span></p><p>Round ${roundButtons} <span class="hint">(keys <kbd>[</kbd> <kbd>]</kbd>)</span></p>
<p class="big" data-testid="round-summary" data-variant="${h(variant)}" data-round="${round}">${h(variant === "quarantine" ? "With quarantine" : variant === "open" ? "No quarantine" : variant)}, round ${round}: ${infected} of ${row?.agents.length ?? 0} agents infected${quarantined ? `, ${quarantined} quarantined` : ""}.</p>
<p class="hint">${per.filter(Boolean).join("; ")}. Infected: the agent's drift lies above the population's threshold (a test over the questions, corrected for every agent and round).</p>${agentAnswers(s, variant, round)}</div><div class="col">${agentsGraph(s, variant, round)}</div></div>`;
    },
};
