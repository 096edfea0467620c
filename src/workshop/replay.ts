/**
 * A run's report.html as the static replay of the workshop page: the run's events and its full report inlined
 * in one self-contained file that opens without a server (the presenter's steps, then the report's tables and
 * charts as the last step). A run's report kind (src/studies/reports.ts) writes it over the plain report
 * (report/run-report.ts) that it embeds, for the library, `sublab run` and `sublab report` alike.
 */
import fs from "node:fs";
import path from "node:path";
import { readRunEvents, type Stamped } from "../core/events.ts";
import { resultsFromEvents } from "../report/from-events.ts";
import { htmlReport } from "../report/run-report.ts";
import { writeReplay } from "./page.ts";

/** The events of the latest run in a log (from its last run-start). */
export function latestRun(events: readonly Stamped[]): readonly Stamped[] {
    return events.slice(
        Math.max(
            0,
            events.findLastIndex((e) => e.type === "run-start"),
        ),
    );
}

/** The full report of a finished run's events, as a page of its own (null while the run has not ended). */
export function reportOfEvents(events: readonly Stamped[], source: string): string | null {
    const run = latestRun(events);
    if (!run.some((e) => e.type === "run-end")) return null;
    return htmlReport(resultsFromEvents(run, source));
}

/**
 * Writes `html` (default: report.html beside it) as the replay of the run recorded in `eventsFile`; returns its
 * path, or null when the recorded run has not finished (the plain report is then left as it is). `report`: the
 * run's full report when the caller has just rendered it (else it is rendered from the events).
 */
export async function writeRunReplay(eventsFile: string, html = path.join(path.dirname(eventsFile), "report.html"), report?: string): Promise<string | null> {
    const events = readRunEvents(eventsFile);
    if (!latestRun(events).some((e) => e.type === "run-end")) return null;
    report ??= reportOfEvents(events, eventsFile)!;
    const start = events[0];
    const name = start?.type === "run-start" ? start.run : path.basename(path.dirname(eventsFile));
    fs.mkdirSync(path.dirname(html), { recursive: true });
    await writeReplay(html, `sublab: ${name}`, events, report);
    return html;
}
