/**
 * A run's results rebuilt from its event stream alone (runs/<name>/events.jsonl): the run-start's
 * configuration, the datasets, each arm and comparison, and the run-end's timing. The report rendered from
 * them is the report the run wrote (test/events.test.ts checks it on a run).
 */
import type { Stamped } from "../core/events.ts";
import { readRunEvents } from "../core/events.ts";
import type { Results } from "../core/results.ts";

export function resultsFromEvents(events: readonly Stamped[], source = "the events"): Results {
    const start = events.find((e) => e.type === "run-start");
    const end = events.findLast((e) => e.type === "run-end");
    const datasets = events.findLast((e) => e.type === "datasets");
    if (!start || start.type !== "run-start") throw new Error(`${source}: no run-start event`);
    if (!end || end.type !== "run-end") throw new Error(`${source}: no run-end event (the run did not finish its statistics)`);
    return {
        experiment: start.run,
        sublabVersion: start.sublabVersion,
        startedAt: start.startedAt,
        seconds: end.seconds,
        config: start.config,
        target: start.target,
        items: start.items,
        datasets: datasets?.type === "datasets" ? datasets.datasets : [],
        arms: events.flatMap((e) => (e.type === "arm" ? [e.arm] : [])),
        comparisons: events.flatMap((e) => (e.type === "comparison" ? [e.comparison] : [])),
        timing: end.timing,
        ...(start.judge ? { judge: start.judge } : {}),
        ...(start.defender?.length ? { defender: start.defender } : {}),
        ...(start.design?.length ? { design: start.design } : {}),
        // By label, not by when each finished: students trained side by side finish in any order.
        students: events
            .flatMap((e) =>
                e.type === "student"
                    ? [{ label: e.label, arm: e.arm, seed: e.seed, firstLoss: e.firstLoss, finalLoss: e.finalLoss, ...(e.probe ? { probe: e.probe } : {}) }]
                    : [],
            )
            .sort((a, b) => a.label.localeCompare(b.label, "en", { numeric: true })),
    };
}

/** The results of the last run recorded in an events.jsonl file. */
export function resultsFromEventFile(file: string): Results {
    return resultsFromEvents(readRunEvents(file), file);
}
