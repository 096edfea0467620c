/** `sublab verdicts`: the verdict machinery's error rates and power under simulation, at the shipped designs (src/stats/simulate.ts). */
import type { Command } from "commander";
import { fixedWidth, fmtCI, fmtPercent } from "../../report/fmt.ts";
import { simulateFamily } from "../../stats/simulate.ts";
import { wilson } from "../../stats/stats.ts";
import { designFloor } from "../../stats/verdict.ts";
import { parsePositiveInteger } from "../options.ts";

/** The families the shipped files make, with their sizes and students per arm. */
export const SHIPPED_FAMILIES = [
    { name: "recipe study cells (recipe-study.json)", size: 22, students: 6 },
    { name: "filter sweep defenses (filter-sweep.json)", size: 11, students: 6 },
    { name: "a run's secondary comparisons (demo.json)", size: 3, students: 5 },
    { name: "a run's primary comparison (demo.json)", size: 1, students: 5 },
] as const;

/** The spread of students' mean log P(target) in the demo (0.15 to 0.26 in its arms), and the shifts whose power is shown. */
const SIGMA = 0.2;
const RATIOS = [1.25, 1.5, 2];

export function registerVerdictsCommand(program: Command): void {
    program
        .command("verdicts")
        .description(
            "simulate the verdict machinery at the shipped designs: the family-wise rate of a false 'moved' (no true effect) and of a false 'no shift larger than' (true shift at the margin), with binomial intervals, and the power at x1.25, x1.5 and x2 with the demo's spread between students (SD 0.2 in log P)",
        )
        .option("--families <n>", "simulated families per design", "1000")
        .option("--seed <n>", "seed of the simulation", "1")
        .action((flags: { families: string; seed: string }) => {
            const families = parsePositiveInteger(flags.families, "--families");
            const seed = parsePositiveInteger(flags.seed, "--seed");
            const rows = SHIPPED_FAMILIES.map((f) => {
                const r = simulateFamily({ size: f.size, students: f.students, families, sigma: SIGMA, seed, shifts: RATIOS.map(Math.log) });
                const rate = (x: { hits: number; n: number; rate: number }) => `${fmtPercent(x.rate)} ${fmtCI(wilson(x.hits, x.n), fmtPercent)}`;
                return [
                    f.name,
                    String(f.size),
                    `${f.students}+${f.students}`,
                    designFloor("students", f.students).toPrecision(2),
                    (0.05 / f.size).toPrecision(2),
                    rate(r.falseMoved),
                    rate(r.falseEquivalent),
                    ...r.powers.map((x) => fmtPercent(x.rate)),
                ];
            });
            const headers = [
                "family",
                "size",
                "students",
                "floor",
                "alpha/size",
                "false 'moved' (family-wise)",
                "false 'no shift' (family-wise)",
                ...RATIOS.map((x) => `power x${x}`),
            ];
            process.stdout.write(
                `${families} simulated families per design, alpha 0.05, margin x1.10; students' mean log P normal with SD ${SIGMA} (the demo's students: 0.15-0.26); ` +
                    `the error rates hold for any spread (the tests need only exchangeability), the power does not\n\n${fixedWidth(headers, rows)}\n`,
            );
        });
}
