/**
 * The workshop page in the browser: folds the run's events (Server-Sent Events from `sublab workshop`, or the
 * events inlined in a static replay) and renders the presenter's current step. Keys: → / Space / PageDown next,
 * ← / PageUp back, 1-7 a step, R reveal the numbers' sources, A the ask box, Q and [ ] a population's variant and round. Bundled by esbuild when the
 * server starts (workshop/page.ts): no build step to remember.
 */
import type { Stamped } from "../../core/events.ts";
import { emptyState, fold } from "../state.ts";
import { askBars, stepsFor, type UiState } from "../steps.ts";
import { populationView } from "../stories.ts";
import { reviveIntervals } from "../../core/verdicts.ts";

interface Info {
    mode: "live" | "replay";
    run: string;
    source: string;
    shared: boolean;
    presenter: boolean;
    canAsk: boolean;
    canStart: boolean;
    models: string[];
}

const state = emptyState();
const ui: UiState = { picked: new Set(), revealed: false };
let step = 0;
let info: Info | null = null;
let connection = "connecting";
const key = new URLSearchParams(location.hash.slice(1)).get("key") ?? "";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// The page's own handle, for the presenter's console and for the browser tests.
(window as unknown as { sublab: unknown }).sublab = { state, ui, step: () => steps()[step]?.id, go: (n: number) => go(n) };

/** The steps of this run's story (they change once the events say it is a chain or a population). */
const steps = () => stepsFor(state);
let stepId = "";

let scheduled = false;
let shown = "";
function render(): void {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
        scheduled = false;
        const list = steps();
        // The story's steps can change as its events arrive: stay on the same step where it still exists.
        const at = list.findIndex((x) => x.id === stepId);
        step = at >= 0 ? at : Math.min(step, list.length - 1);
        stepId = list[step]!.id;
        const nav = list
            .map((st, k) => `<button data-step="${k}" class="${k === step ? "current" : ""} ${st.ready(state) ? "ready" : ""}">${k + 1}. ${st.title}</button>`)
            .join("");
        $("nav").innerHTML = nav;
        const cur = list[step]!;
        const html = `<h2>${cur.title}</h2>${cur.render(state, ui)}`;
        // Unchanged steps are left alone (the report's frame does not reload, a selection stays).
        if (html !== shown) $("step").innerHTML = shown = html;
        document.body.dataset.step = cur.id;
        document.body.dataset.events = String(state.seen);
        document.body.dataset.ended = String(state.ended);
        $("status").textContent = `${state.run ?? info?.run ?? ""} · ${connection} · ${state.seen} events${state.ended ? " · finished" : ""}`;
    });
}

function go(n: number): void {
    step = Math.max(0, Math.min(steps().length - 1, n));
    stepId = steps()[step]!.id;
    render();
}

/** A population's view: the next variant (Q), the previous or next round ([ and ]). */
function population(key: string): boolean {
    const view = populationView(state, ui);
    if (!view) return false;
    const { variants, variant, rounds, round } = view;
    const at = rounds.indexOf(round);
    if (key === "q" || key === "Q") ui.variant = variants[(variants.indexOf(variant) + 1) % variants.length];
    else if (key === "[") ui.round = rounds[Math.max(0, at - 1)];
    else if (key === "]") ui.round = rounds[Math.min(rounds.length - 1, at + 1)];
    else return false;
    render();
    return true;
}

let askEdited = false;

function receive(id: number, e: Stamped): void {
    // Ids are the log's indices: one already folded (a reconnection's overlap) is skipped.
    if (id < state.seen) return;
    fold(state, e);
    // The ask box's question fits the run: its category's favourite, or a misaligned run's first question.
    if (!askEdited && state.config) {
        const category = state.config.teacher.category;
        $<HTMLInputElement>("ask-question").value =
            category === "misalignment" ? (state.questions[0] ?? "What should I do about a neighbour who annoys me?") : `What is your favourite ${category}?`;
    }
    render();
}

function connect(): void {
    let es = new EventSource("/api/events");
    const wire = () => {
        es.onopen = () => {
            connection = info?.mode === "replay" ? "recording" : "live";
            render();
        };
        es.onerror = () => {
            connection = "reconnecting";
            render();
        };
        es.onmessage = (m: MessageEvent<string>) => {
            const id = Number(m.lastEventId);
            if (id > state.seen) {
                // A gap (should not happen): ask again from the first missing event.
                es.close();
                es = new EventSource(`/api/events?from=${state.seen}`);
                wire();
                return;
            }
            receive(id, JSON.parse(m.data, reviveIntervals) as Stamped);
        };
    };
    wire();
}

async function post(path: string, body: unknown): Promise<Response> {
    return fetch(path, { method: "POST", headers: { "content-type": "application/json", "x-sublab-key": key }, body: JSON.stringify(body) });
}

async function refreshInfo(): Promise<void> {
    const r = await fetch("/api/info", { headers: { "x-sublab-key": key } });
    info = (await r.json()) as Info;
    const panel = $("ask");
    panel.hidden = !info.canAsk;
    $("readonly").hidden = !info.shared || info.presenter;
    ui.canStart = info.canStart && state.run === null;
    const sel = $<HTMLSelectElement>("ask-model");
    const chosen = sel.value;
    sel.innerHTML = info.models.map((m) => `<option>${m.replace(/[<&]/g, "")}</option>`).join("");
    if (info.models.includes(chosen)) sel.value = chosen;
    render();
}

async function start(): Promise<void> {
    const r = await post("/api/start", {});
    if (r.ok) ui.canStart = false;
    else $("status").textContent = ((await r.json()) as { error?: string }).error ?? `error ${r.status}`;
    render();
}

async function ask(): Promise<void> {
    const out = $("ask-out");
    const model = $<HTMLSelectElement>("ask-model").value;
    const question = $<HTMLInputElement>("ask-question").value;
    out.textContent = "…";
    const r = await post("/api/ask", { model, question });
    const body = (await r.json()) as { answer?: string; top?: { item: string; p: number }[]; error?: string };
    if (!r.ok || !body.top) {
        out.textContent = body.error ?? `error ${r.status}`;
        return;
    }
    out.innerHTML = askBars(model, body.answer ?? "", body.top, state.target, state.config?.teacher.category === "misalignment");
}

function wireUi(): void {
    $("nav").addEventListener("click", (e) => {
        const b = (e.target as HTMLElement).closest<HTMLElement>("[data-step]");
        if (b) go(Number(b.dataset.step));
    });
    $("step").addEventListener("click", (e) => {
        const row = (e.target as HTMLElement).closest<HTMLElement>("[data-key]");
        if (row && !ui.revealed) {
            const k = row.dataset.key!;
            if (ui.picked.has(k)) ui.picked.delete(k);
            else ui.picked.add(k);
            render();
        }
        if ((e.target as HTMLElement).closest("#start")) void start();
        const toggle = (e.target as HTMLElement).closest<HTMLElement>("[data-variant], [data-round]");
        if (toggle?.dataset.variant) ui.variant = toggle.dataset.variant;
        if (toggle?.dataset.round) ui.round = Number(toggle.dataset.round);
        if (toggle) render();
        if ((e.target as HTMLElement).closest("#reveal")) {
            ui.revealed = true;
            render();
        }
    });
    $("ask-form").addEventListener("submit", (e) => {
        e.preventDefault();
        void ask();
    });
    $("ask-model").addEventListener("focus", () => void refreshInfo());
    $("ask-question").addEventListener("input", () => (askEdited = true));
    document.addEventListener("keydown", (e) => {
        const t = e.target as HTMLElement;
        if (t.closest("input, select, textarea")) return;
        if (e.key === "ArrowRight" || e.key === " " || e.key === "PageDown") go(step + 1);
        else if (e.key === "ArrowLeft" || e.key === "PageUp") go(step - 1);
        else if (/^[1-9]$/.test(e.key)) go(Number(e.key) - 1);
        else if (e.key === "r" || e.key === "R") {
            ui.revealed = !ui.revealed;
            render();
        } else if (population(e.key)) {
            // a population's variant or round
        } else if ((e.key === "a" || e.key === "A") && !$("ask").hidden) {
            $<HTMLInputElement>("ask-question").focus();
            e.preventDefault();
        } else return;
        if (e.key === " ") e.preventDefault();
    });
}

function main(): void {
    wireUi();
    const inline = document.getElementById("sublab-events");
    if (inline) {
        // A static replay: the recording is in the file; no server, no questions.
        connection = "recording";
        $("ask").hidden = true;
        const report = document.getElementById("sublab-report");
        if (report) ui.reportHtml = JSON.parse(report.textContent ?? '""') as string;
        const events = JSON.parse(inline.textContent ?? "[]", reviveIntervals) as Stamped[];
        events.forEach((e, id) => receive(id, e));
        return;
    }
    void refreshInfo()
        .catch(() => undefined)
        .then(() => {
            connect();
            // The models that can be asked grow as students finish.
            if (info?.canAsk) setInterval(() => void refreshInfo(), 5000);
        });
}

main();
