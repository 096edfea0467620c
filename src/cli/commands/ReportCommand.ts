/** `sublab report RESULTS`: a results file rendered again beside it, whatever made it (src/studies/reports.ts). */
import type { Command } from "commander";
import { REPORT_KINDS, reportAgain } from "../../studies/reports.ts";

export function registerReportCommand(program: Command): void {
    program
        .command("report <results>")
        .description(
            `render a results.json (of any kind sublab writes: ${REPORT_KINDS.map((k) => k.name).join(", ")}) or a run's events.jsonl again as report.md and report.html beside it, and print the table`,
        )
        .action(async (file: string) => {
            const r = await reportAgain(file);
            console.log(r.table);
            console.log(`\nreport: ${r.files.html}`);
        });
}
