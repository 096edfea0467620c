/**
 * What the workshop's steps are made of: their interface, what the room did on the page, and the small HTML
 * pieces they share (bars, arm colours, the waiting line). No DOM and no Node here: bundled into the page.
 */
import { CONTENT_WARNING, escapeHtml, fmtPercent, r1 } from "../report/fmt.ts";
import type { WorkshopState } from "./state.ts";

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

export const h = escapeHtml;
export const waiting = (what: string) => `<p class="waiting" data-testid="waiting">Waiting for ${h(what)}…</p>`;

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
export const colour = (arm: string) => ARM_COLOURS[arm] ?? "#555";

/** Horizontal bars of the items' probabilities, the target's highlighted. */
export function bars(items: string[], dist: number[], target: string | null, k: number, testid: string): string {
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
/** HTML behind the content warning, closed until the presenter opens it: `label` on the button, `testid` on the details. */
export const behindWarning = (testid: string, label: string, body: string): string =>
    `<details class="cw" data-testid="${testid}"><summary>${h(CONTENT_WARNING)} <b>${label}</b></summary>${body}</details>`;

/**
 * A model's answer in the Ask box and its distribution over the items. A misaligned run's answer may be callous or
 * violent: it comes behind the reports' content-warning line, opened by a click.
 */
export function askBars(model: string, answer: string, top: { item: string; p: number }[], target: string | null, judged = false): string {
    const said = `<p data-testid="ask-answer"><b>${h(model)}</b>: “${h(answer)}”</p>`;
    const shown = judged ? behindWarning("ask-cw", "Show the answer", said) : said;
    return `${shown}${bars(
        top.map((t) => t.item),
        top.map((t) => t.p),
        target,
        top.length,
        "ask-bars",
    )}`;
}

export function evalOf(s: WorkshopState, arm: string) {
    return s.evals.find((e) => e.arm === arm)?.eval;
}
