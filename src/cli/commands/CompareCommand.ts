/** `sublab compare RUNS...`: finished runs side by side (src/report/compare-report.ts). */
import type { Command } from "commander";
import { SUBLAB_VERSION } from "../../core/version.ts";
import { compareRuns, compareTable, writeCompareReport } from "../../report/compare-report.ts";
import { reportFilesLine } from "../../report/report-files.ts";

export function registerCompareCommand(program: Command): void {
    program
        .command("compare <runs...>")
        .description(
            "finished runs side by side (runs/<name> or its results.json): treated, cross-model and in-context against their controls, a table and a forest chart of the log-ratios",
        )
        .option("--out <dir>", "where report.md, report.html and results.json go", "runs/compare")
        .action((runs: string[], opts: { out: string }) => {
            const r = compareRuns(runs, SUBLAB_VERSION);
            const files = writeCompareReport(r, opts.out);
            console.log(compareTable(r));
            console.log(reportFilesLine(files));
        });
}
