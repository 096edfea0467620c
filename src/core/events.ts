/**
 * One event stream per run. Every stage reports what it does as typed events: to the library's `onEvent`
 * callback (a live view subscribes there), to the terminal (progress bars and log lines, report/terminal.ts),
 * and appended to runs/<name>/events.jsonl. A resumed run appends a new `run-start` and reports its cached
 * stages again (`cached: true`), so the events after the last `run-start` describe the whole run, and a
 * report can be rendered from them alone (report/from-events.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { AgentRound } from "./results.ts";
import type { ExperimentConfig } from "./types.ts";
import type { ArmResult, ComparisonResult, DefenderUse, JudgeQuality, ModelEval, Results } from "./results.ts";
import type { StageReport } from "./types.ts";

import { reviveIntervals } from "./verdicts.ts";
import { writing } from "../util/files.ts";

export type SublabEvent =
    | {
          type: "run-start";
          run: string;
          sublabVersion: string;
          startedAt: string;
          config: ExperimentConfig;
          target: string;
          items: string[];
          judge?: JudgeQuality;
          /** The local judge and paraphrase models the defenses ask, with their quality on held-out items. */
          defender?: DefenderUse[];
          design?: string[];
      }
    | { type: "stage-start"; stage: string; label: string }
    /** The teacher, once made: a GGUF (and adapter) and its system prompt, for a live view that asks it questions. */
    | { type: "teacher"; model: string; lora: string | null; system: string | null; description: string }
    | { type: "stage-end"; stage: string; label: string; seconds: number; cached: boolean }
    /** Progress of a long step (rows generated, rows scored); terminal only, not written to events.jsonl. */
    | { type: "progress"; label: string; done: number; total: number; group?: { label: string; size: number } }
    /** One optimizer step of a training (a student's, or the teacher's fine-tune). */
    | {
          type: "train-step";
          label: string;
          /** The student's arm (training events since structured fields). */ arm?: string;
          step: number;
          total: number;
          loss: number;
          group?: { label: string; size: number };
          /** The held-out KL at this step (src/students/probe.ts), at about 8 steps of a student. */ probe?: number;
      }
    | {
          type: "rows";
          dataset: string;
          role: string;
          generated: number;
          resumed: number;
          tokens: number;
          seconds: number;
          sample: { i: number; prompt: string; completion: string }[];
      }
    /** A filter's or a defense stage's pass rate and reasons on one dataset. */
    | { type: "filter"; dataset: string; stage: StageReport }
    | { type: "datasets"; datasets: Results["datasets"] }
    | {
          type: "student";
          label: string;
          arm: string;
          chain?: ChainPlace;
          seed: number;
          dataset: string;
          firstLoss: number;
          finalLoss: number;
          seconds: number;
          cached: boolean;
          probe?: { step: number; kl: number }[];
      }
    /** A model's answers: exact P(item) per question ([question][item], absent from evaluations cached before it was kept). */
    | { type: "eval"; label: string; arm: string; chain?: ChainPlace; eval: ModelEval; questions: string[]; probs?: number[][]; cached: boolean }
    | { type: "arm"; arm: ArmResult }
    | { type: "comparison"; comparison: ComparisonResult }
    /** Worker processes started for the jobs of a run (and stopped): a group's progress ends with them. */
    | { type: "pool"; state: "start" | "end"; workers: number; group: string }
    /** A population's shape, before its rounds (sublab population): agents, who reads whom, who starts infected. */
    | {
          type: "population";
          run: string;
          agents: number;
          edges: [number, number][];
          infected: number[];
          rounds: number;
          variants: string[];
          /** Agents ask their neighbours and train on the answers (absent in recordings from before conversing populations). */
          conversation?: boolean;
      }
    /** A population's agents after one round (sublab population). */
    | { type: "population-round"; run: string; round: number; agents: AgentRound[] }
    | { type: "run-end"; seconds: number; timing: NonNullable<Results["timing"]> }
    | { type: "log"; message: string };

/** An event as written: its type's fields and when it happened. */
export type Stamped = SublabEvent & { t: string };

export type EventSink = (e: Stamped) => void;

/** Event types the file keeps (progress ticks are for the terminal and live views). */
const KEPT = (e: SublabEvent) => e.type !== "progress";

/** Appends events to a JSONL file (one line each, written whole, so a killed run leaves complete lines). */
export function eventFile(file: string): EventSink {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return (e) => {
        if (KEPT(e)) writing(file, () => fs.appendFileSync(file, `${JSON.stringify(e)}\n`));
    };
}

/** One emitter over several sinks; a sink that throws does not stop the run (the error goes to stderr once). */
export function emitter(...sinks: (EventSink | undefined)[]): (e: SublabEvent) => void {
    const live = sinks.filter((s): s is EventSink => !!s);
    const failed = new Set<EventSink>();
    return (e) => {
        const stamped = { ...e, t: new Date().toISOString() } as Stamped;
        for (const s of live) {
            if (failed.has(s)) continue;
            try {
                s(stamped);
            } catch (err) {
                failed.add(s);
                process.stderr.write(`an event subscriber failed and is dropped: ${(err as Error).message}\n`);
            }
        }
    };
}

/** JSON events from lines of a JSONL file; `bad(k)` is told of each line that does not parse (k counts from 0). */
export function parseEventLines(lines: string[], bad: (k: number) => void): Stamped[] {
    const events: Stamped[] = [];
    lines.forEach((line, k) => {
        if (line.trim() === "") return;
        try {
            events.push(JSON.parse(line, reviveIntervals) as Stamped);
        } catch {
            bad(k);
        }
    });
    return events;
}

/** A run's events from its events.jsonl: those after the last run-start (the latest call, cached stages included). */
export function readRunEvents(file: string): Stamped[] {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const events = parseEventLines(lines, (k) => {
        // A torn last line (a run killed mid-write) is skipped; anything else is an error.
        if (k < lines.length - 1 && lines.slice(k + 1).some((l) => l.trim() !== "")) throw new Error(`${file}:${k + 1}: not a JSON event`);
    });
    const start = events.map((e) => e.type).lastIndexOf("run-start");
    if (start < 0) throw new Error(`${file}: no run-start event`);
    return events.slice(start);
}
/** Where a chain's student or evaluation sits: its data mode, generation and arm (the workshop reads these, not labels). */
export interface ChainPlace {
    mode: string;
    generation: number;
    arm: "treated" | "control";
}
