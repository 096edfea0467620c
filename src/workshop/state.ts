/**
 * What the workshop page shows, folded from a run's event stream (core/events.ts): one pure reducer shared by
 * the page (live, through Server-Sent Events, or replayed from events inlined in a file) and the tests, which
 * check the page's content against the same fold of the same events. No DOM and no Node here: this file is
 * bundled into the page.
 */
import type { ChainPlace, Stamped, SublabEvent } from "../core/events.ts";
import type { AgentRound } from "../core/results.ts";
import type { ExperimentConfig, StageReport } from "../core/types.ts";
import type { ArmResult, ComparisonResult, ModelEval } from "../core/results.ts";
import { Rng } from "../util/rng.ts";

export interface SampleRow {
    i: number;
    prompt: string;
    completion: string;
}

export interface DatasetView {
    id: string;
    role: string;
    generated: number;
    sample: SampleRow[];
    /** The format filter's and each defense's pass rate and reasons, in the order they ran. */
    stages: StageReport[];
}

export interface StudentView {
    label: string;
    /** The arm (its train-step events carry it; older runs' only from the `student` event that ends its training). */
    arm: string | null;
    /** A chain's student: its data mode, generation and arm. */
    chain?: ChainPlace;
    seed: number | null;
    total: number;
    /** [step, loss] of every optimizer step seen. */
    losses: [number, number][];
    /** [step, held-out KL to the labels] at the steps the student was probed (src/students/probe.ts). */
    probe: [number, number][];
    firstLoss: number | null;
    finalLoss: number | null;
    done: boolean;
}

export interface EvalView {
    label: string;
    arm: string;
    /** A chain's evaluation: its data mode, generation and arm. */
    chain?: ChainPlace;
    eval: ModelEval;
}

export interface WorkshopState {
    run: string | null;
    config: ExperimentConfig | null;
    target: string | null;
    items: string[];
    /** What the teacher is (its `teacher` event). */
    teacher: { description: string; system: string | null } | null;
    /** Stages begun and ended (stage name -> ended), in order. */
    stages: { stage: string; label: string; done: boolean; seconds: number | null; cached: boolean }[];
    datasets: DatasetView[];
    students: StudentView[];
    evals: EvalView[];
    arms: ArmResult[];
    comparisons: ComparisonResult[];
    ended: boolean;
    seconds: number | null;
    /** Events folded so far (the id of the next one expected). */
    seen: number;
    /** Log lines, newest last (the last 50). */
    log: string[];
    /** The evaluation's questions (from the first eval that carries them): the flagged answers' questions. */
    questions: string[];
    /** A population's shape (sublab population), and its agents after each round of each variant. */
    population: PopulationShape | null;
    rounds: { run: string; round: number; agents: AgentRound[] }[];
}

/** A population's shape: its `population` event less the run's name. */
export type PopulationShape = Omit<Extract<SublabEvent, { type: "population" }>, "type" | "run">;

/** What the run is: one experiment (sublab run), a chain of generations, or a population of agents. */
export type Story = "experiment" | "chain" | "population";

export function storyOf(s: WorkshopState): Story {
    if (s.population || s.rounds.length > 0) return "population";
    if (s.evals.some((e) => e.chain) || s.students.some((x) => x.chain)) return "chain";
    return "experiment";
}

export function emptyState(): WorkshopState {
    return {
        run: null,
        config: null,
        target: null,
        items: [],
        teacher: null,
        stages: [],
        datasets: [],
        students: [],
        evals: [],
        arms: [],
        comparisons: [],
        ended: false,
        seconds: null,
        seen: 0,
        log: [],
        questions: [],
        population: null,
        rounds: [],
    };
}

/** The dataset a role's rows came from: the teacher's data, or the control's (the base without the trait). */
export function datasetOf(s: WorkshopState, role: "teacher" | "control"): DatasetView | undefined {
    return s.datasets.find((d) => d.role === role);
}

function dataset(s: WorkshopState, id: string, role = ""): DatasetView {
    let d = s.datasets.find((x) => x.id === id);
    if (!d) {
        d = { id, role, generated: 0, sample: [], stages: [] };
        s.datasets.push(d);
    }
    if (role) d.role = role;
    return d;
}

function student(s: WorkshopState, label: string): StudentView {
    let st = s.students.find((x) => x.label === label);
    if (!st) {
        st = { label, arm: null, seed: null, total: 0, losses: [], probe: [], firstLoss: null, finalLoss: null, done: false };
        s.students.push(st);
    }
    return st;
}

/**
 * Folds one event into the state (in place; returns it). A `run-start` begins a new run: a resumed or restarted
 * run reports its cached stages again, so the page always shows the latest run whole.
 */
export function fold(s: WorkshopState, e: Stamped): WorkshopState {
    s.seen++;
    switch (e.type) {
        case "run-start": {
            const seen = s.seen;
            Object.assign(s, emptyState(), { seen, run: e.run, config: e.config, target: e.target, items: e.items });
            break;
        }
        case "teacher":
            s.teacher = { description: e.description, system: e.system };
            break;
        case "stage-start":
            s.stages.push({ stage: e.stage, label: e.label, done: false, seconds: null, cached: false });
            break;
        case "stage-end": {
            const st =
                s.stages.findLast((x) => x.stage === e.stage && !x.done) ??
                (s.stages.push({ stage: e.stage, label: e.label, done: false, seconds: null, cached: false }), s.stages.at(-1)!);
            Object.assign(st, { done: true, seconds: e.seconds, cached: e.cached });
            break;
        }
        case "rows": {
            const d = dataset(s, e.dataset, e.role);
            d.generated = e.generated + e.resumed;
            d.sample = e.sample;
            break;
        }
        case "filter":
            dataset(s, e.dataset).stages.push(e.stage);
            break;
        case "train-step": {
            const st = student(s, e.label);
            st.arm ??= e.arm ?? null;
            st.total = e.total;
            st.losses.push([e.step, e.loss]);
            if (e.probe !== undefined) st.probe.push([e.step, e.probe]);
            st.firstLoss ??= e.loss;
            break;
        }
        case "student": {
            const st = student(s, e.label);
            Object.assign(st, { arm: e.arm, seed: e.seed, firstLoss: e.firstLoss, finalLoss: e.finalLoss, done: true, ...(e.chain ? { chain: e.chain } : {}) });
            // The whole probe curve (step 0 included) comes with the end of a training, and with a cached student.
            if (e.probe) st.probe = e.probe.map((p) => [p.step, p.kl]);
            break;
        }
        case "eval":
            s.evals.push({ label: e.label, arm: e.arm, ...(e.chain ? { chain: e.chain } : {}), eval: e.eval });
            if (s.questions.length === 0 && e.questions.length > 0) s.questions = e.questions;
            break;
        case "population":
            s.population = {
                agents: e.agents,
                edges: e.edges,
                infected: e.infected,
                rounds: e.rounds,
                variants: e.variants,
                ...(e.conversation ? { conversation: true } : {}),
            };
            break;
        case "population-round":
            s.rounds.push({ run: e.run, round: e.round, agents: e.agents });
            break;
        case "arm":
            s.arms.push(e.arm);
            break;
        case "comparison":
            s.comparisons.push(e.comparison);
            break;
        case "run-end":
            s.ended = true;
            s.seconds = e.seconds;
            break;
        case "log":
            s.log.push(e.message);
            if (s.log.length > 50) s.log.shift();
            break;
        default:
            break;
    }
    return s;
}

export function foldAll(events: readonly Stamped[]): WorkshopState {
    return events.reduce(fold, emptyState());
}

/** Mean distribution over items of an arm's evaluations so far (the bars of "ask the students"). */
export function armDistribution(s: WorkshopState, arm: string): { n: number; dist: number[] } {
    const evs = s.evals.filter((e) => e.arm === arm);
    const dist = s.items.map((_, k) => (evs.length ? evs.reduce((a, e) => a + (e.eval.distribution[k] ?? 0), 0) / evs.length : 0));
    return { n: evs.length, dist };
}

/** Arms in the order the page shows them: the story's arms first, then any others in the order they appeared. */
export const ARM_ORDER = ["base", "teacher", "control", "treated", "cross-control", "cross", "in-context-control", "in-context"];

export function armsSeen(s: WorkshopState): string[] {
    const seen = [...new Set(s.evals.map((e) => e.arm))];
    return [...ARM_ORDER.filter((a) => seen.includes(a)), ...seen.filter((a) => !ARM_ORDER.includes(a))];
}

/**
 * The guessing game of step 2: rows of the teacher and of the control shuffled together by a seeded shuffle (the
 * same order on every screen and in the tests), half of each. A teacher row and a control row never answer the
 * same prompt: with coupled sampling the two answers to one prompt share most of their numbers, and the room
 * would spot the pairs instead of guessing. So the teacher's rows are taken from the even sample rows and the
 * control's from the odd ones; rows the other side wrote alike are left out (nothing tells them apart).
 */
export function guessRows(s: WorkshopState, n = 8, seed = 1): { key: string; source: "teacher" | "control"; prompt: string; completion: string }[] {
    const t = datasetOf(s, "teacher");
    const c = datasetOf(s, "control");
    if (!t || !c) return [];
    const differs = (a: SampleRow, other: SampleRow[]) => other.find((r) => r.i === a.i)?.completion !== a.completion;
    const pick = (rows: SampleRow[], other: SampleRow[], parity: number) =>
        rows.filter((r, k) => k % 2 === parity && differs(r, other)).slice(0, Math.floor(n / 2));
    const tr = pick(t.sample, c.sample, 0);
    const cr = pick(c.sample, t.sample, 1);
    const half = Math.min(tr.length, cr.length);
    const rows = [
        ...tr.slice(0, half).map((r) => ({ key: `t${r.i}`, source: "teacher" as const, prompt: r.prompt, completion: r.completion })),
        ...cr.slice(0, half).map((r) => ({ key: `c${r.i}`, source: "control" as const, prompt: r.prompt, completion: r.completion })),
    ];
    // sublab's seeded generator: every screen, and the tests, shuffle alike.
    return new Rng(seed).shuffle(rows);
}
