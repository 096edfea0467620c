/**
 * Every kind of results file and how it is reported: what recognises it, its terminal table, and the files it
 * writes beside it (results.json, report.md, report.html). A study writes its report through its kind when it
 * finishes (skeleton.ts), and `sublab report` and `sublab restat` find a results file's kind here, so the library,
 * the CLI and a re-render write the same files. A run's report.html is the workshop page's replay of its events,
 * with the full report as the last step.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChainResults, EntangleResults, PopulationResults, Results, StudyResults, SweepResults, TheoremResults } from "../core/results.ts";
import { reviveIntervals } from "../core/verdicts.ts";
import { chainTable, writeChainReport } from "../report/chain-report.ts";
import { compareTable, writeCompareReport, type CompareResults } from "../report/compare-report.ts";
import { entangleTable, writeEntangleReport } from "../report/entangle-report.ts";
import { resultsFromEventFile } from "../report/from-events.ts";
import { populationTable, writePopulationReport } from "../report/population-report.ts";
import { terminalTable, writeReport } from "../report/run-report.ts";
import { studyTable, writeStudyResultsReport } from "../report/study-report.ts";
import { sweepTable, writeSweepReport } from "../report/sweep-report.ts";
import { theoremTable, writeTheoremReport } from "../report/theorem-report.ts";
import { writeRunReplay } from "../workshop/replay.ts";

export type ReportFiles = { json: string; md: string; html: string };
export type AnyResults = Results | SweepResults | ChainResults | PopulationResults | StudyResults | TheoremResults | EntangleResults | CompareResults;

/** One kind of results: how to recognise it, its terminal table, and its report files. */
export interface ReportKind<R extends AnyResults> {
    name: string;
    is: (r: AnyResults) => r is R;
    table: (r: R) => string;
    write: (r: R, dir: string) => Promise<ReportFiles>;
}

const kind = <R extends AnyResults>(
    name: string,
    is: (r: AnyResults) => boolean,
    table: (r: R) => string,
    write: (r: R, dir: string) => ReportFiles | Promise<ReportFiles>,
): ReportKind<R> => ({
    name,
    is: (r): r is R => is(r),
    table,
    write: async (r, dir) => write(r, dir),
});

export const COMPARE_REPORT = kind<CompareResults>("comparison", (r) => "compare" in r, compareTable, writeCompareReport);
export const STUDY_REPORT = kind<StudyResults>("recipe study", (r) => "study" in r, studyTable, writeStudyResultsReport);
export const ENTANGLE_REPORT = kind<EntangleResults>("entanglement study", (r) => "kind" in r && r.kind === "entangle", entangleTable, writeEntangleReport);
export const THEOREM_REPORT = kind<TheoremResults>("theorem experiment", (r) => "kind" in r && r.kind === "theorem", theoremTable, writeTheoremReport);
export const CHAIN_REPORT = kind<ChainResults>("chain", (r) => "chain" in r, chainTable, writeChainReport);
export const POPULATION_REPORT = kind<PopulationResults>("population", (r) => "population" in r, populationTable, writePopulationReport);
export const SWEEP_REPORT = kind<SweepResults>("sweep", (r) => "sweep" in r, sweepTable, writeSweepReport);
/** A run: its plain report, then report.html as the replay of the events beside it (when they hold the finished run). */
export const RUN_REPORT = kind<Results>(
    "run",
    (r) => "experiment" in r && "arms" in r,
    terminalTable,
    async (r, dir) => {
        const files = writeReport(r, dir);
        const events = path.join(dir, "events.jsonl");
        if (fs.existsSync(events)) await writeRunReplay(events, files.html, fs.readFileSync(files.html, "utf8"));
        return files;
    },
);

/** Every kind, the more specific first. */
const anyKind = <R extends AnyResults>(k: ReportKind<R>) => k as unknown as ReportKind<AnyResults>; // `is` guards the rest
export const REPORT_KINDS: readonly ReportKind<AnyResults>[] = [
    anyKind(COMPARE_REPORT),
    anyKind(STUDY_REPORT),
    anyKind(ENTANGLE_REPORT),
    anyKind(THEOREM_REPORT),
    anyKind(CHAIN_REPORT),
    anyKind(POPULATION_REPORT),
    anyKind(SWEEP_REPORT),
    anyKind(RUN_REPORT),
];

/** The kind of a results object, or an error naming the file. */
export function reportKindOf(r: AnyResults, file: string): ReportKind<AnyResults> {
    const k = REPORT_KINDS.find((x) => x.is(r));
    if (!k) throw new Error(`${file}: not a results file sublab knows (${REPORT_KINDS.map((x) => x.name).join(", ")})`);
    return k;
}

/** Renders a results.json (or a run's events.jsonl) again beside it; returns its kind, table and files. */
export async function reportAgain(file: string): Promise<{ kind: string; table: string; files: ReportFiles }> {
    if (!fs.existsSync(file)) throw new Error(`no such file ${file}`);
    const results: AnyResults = file.endsWith(".jsonl")
        ? resultsFromEventFile(file)
        : (JSON.parse(fs.readFileSync(file, "utf8"), reviveIntervals) as AnyResults);
    const k = reportKindOf(results, file);
    return { kind: k.name, table: k.table(results), files: await k.write(results, path.dirname(file)) };
}
