/** `sublab verdicts`: the verdict machinery's error rates and power under simulation, at the shipped designs (src/stats/simulate.ts). */
import type { Command } from "commander";
import { fixedWidth, fmtCI, fmtPercent } from "../../report/text.ts";
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

export function registerVerdictsCommand(program: Command): void {
    program
        .command("verdicts")
        .description("simulate the verdict machinery at the shipped designs: the family-wise rate of a false 'moved' (no true effect) and of a false 'no shift larger than' (true shift at the margin), with binomial intervals, and the power at a shift of 4 student SDs")
        .option("--families <n>", "simulated families per design", "1000")
        .option("--seed <n>", "seed of the simulation", "1")
        .action((flags: { families: string; seed: string }) => {
            const families = parsePositiveInteger(flags.families, "--families");
            const seed = parsePositiveInteger(flags.seed, "--seed");
            const rows = SHIPPED_FAMILIES.map((f) => {
                const r = simulateFamily({ size: f.size, students: f.students, families, sigma: 0.1, seed });
                const rate = (x: { hits: number; n: number; rate: number }) => `${fmtPercent(x.rate)} ${fmtCI(wilson(x.hits, x.n), fmtPercent)}`;
                return [f.name, String(f.size), `${f.students}+${f.students}`, designFloor("students", f.students).toPrecision(2), (0.05 / f.size).toPrecision(2), rate(r.falseMoved), rate(r.falseEquivalent), rate(r.power)];
            });
            const headers = ["family", "size", "students", "floor", "alpha/size", "false 'moved' (family-wise)", "false 'no shift' (family-wise)", "power at 4 SD"];
            process.stdout.write(`${families} simulated families per design, alpha 0.05, margin x1.10; students' values normal (the tests need only exchangeability)\n\n${fixedWidth(headers, rows)}\n`);
        });
}
