/** `sublab theorem`: the theorem's small-network experiment (same-init students learn digits from auxiliary logits on noise). */
import type { Command } from "commander";
import { reportFilesLine } from "../../report/report-files.ts";
import { theoremTable, writeTheoremReport } from "../../report/theorem-report.ts";
import { runTheorem, THEOREM_DEFAULTS } from "../../studies/theorem.ts";
import type { TheoremOptions } from "../../core/results.ts";
import { interruptSignal } from "../../util/interrupt.ts";
import { ProgressBars } from "../../util/progress.ts";
import { parsePositiveInteger, parsePositiveNumber, quietFlag } from "../options.ts";

interface TheoremFlags {
    seeds: string;
    train: string;
    test: string;
    noise: string;
    teacherEpochs: string;
    teacherLr: string;
    studentEpochs: string;
    studentLr: string;
    batch: string;
    weightDecay: string;
    initNoise: string;
    out: string;
    quiet?: boolean;
}

/** A comma-separated list of positive numbers; "none" is the empty list. */
function numberList(value: string, flag: string): number[] {
    if (value.trim() === "none") return [];
    return value.split(",").map((v) => parsePositiveNumber(v.trim(), flag));
}

export function registerTheoremCommand(program: Command): void {
    const d = THEOREM_DEFAULTS;
    program
        .command("theorem")
        .description(
            "the theorem's small-network experiment: an MLP teacher learns procedural digits; students distilled only on its 3 auxiliary logits over noise learn the digits when they share its initialisation, with ablations (weight decay, init noise)",
        )
        .option("--seeds <n>", "seeds (each its own initialisation, noise and students)", String(d.seeds))
        .option("--train <n>", "the teacher's training digits", String(d.train))
        .option("--test <n>", "held-out test digits", String(d.test))
        .option("--noise <n>", "noise images per seed for the students", String(d.noise))
        .option("--teacher-epochs <n>", "teacher epochs", String(d.teacherEpochs))
        .option("--teacher-lr <x>", "teacher learning rate (Adam)", String(d.teacherLr))
        .option("--student-epochs <n>", "student epochs", String(d.studentEpochs))
        .option("--student-lr <x>", "student learning rate (Adam)", String(d.studentLr))
        .option("--batch <n>", "batch size", String(d.batch))
        .option("--weight-decay <list>", 'weight-decay ablation: comma-separated values, or "none"', d.weightDecay.join(","))
        .option("--init-noise <list>", 'init-noise ablation, in init standard deviations: comma-separated values, or "none"', d.initNoise.join(","))
        .option("--out <dir>", "where seeds.jsonl, results.json and the reports go", "runs/theorem")
        .addOption(quietFlag("no progress bars or seed lines"))
        .action(async (raw: TheoremFlags) => {
            const o: TheoremOptions = {
                seeds: parsePositiveInteger(raw.seeds, "--seeds"),
                train: parsePositiveInteger(raw.train, "--train"),
                test: parsePositiveInteger(raw.test, "--test"),
                noise: parsePositiveInteger(raw.noise, "--noise"),
                teacherEpochs: parsePositiveInteger(raw.teacherEpochs, "--teacher-epochs"),
                teacherLr: parsePositiveNumber(raw.teacherLr, "--teacher-lr"),
                studentEpochs: parsePositiveInteger(raw.studentEpochs, "--student-epochs"),
                studentLr: parsePositiveNumber(raw.studentLr, "--student-lr"),
                batch: parsePositiveInteger(raw.batch, "--batch"),
                weightDecay: numberList(raw.weightDecay, "--weight-decay"),
                initNoise: numberList(raw.initNoise, "--init-noise"),
            };
            const bars = new ProgressBars();
            const interrupt = interruptSignal();
            try {
                const r = await runTheorem(o, raw.out, {
                    progress: raw.quiet ? undefined : (what, done, total, network) => bars.update(what, done, total, { training: network }),
                    log: raw.quiet ? undefined : (m) => (bars.finish(), console.error(m)),
                    signal: interrupt.signal,
                });
                bars.finish();
                const files = writeTheoremReport(r, raw.out);
                console.log(theoremTable(r));
                console.log(reportFilesLine(files));
                console.log(`took ${(r.seconds / 60).toFixed(1)} min`);
            } finally {
                bars.finish();
                interrupt.release();
            }
        });
}
