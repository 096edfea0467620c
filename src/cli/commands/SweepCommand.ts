/** `sublab sweep FILE` (src/studies/sweep.ts). */
import type { Command } from "commander";
import { loadSweep, runSweep } from "../../studies/sweep.ts";
import { studyCommand } from "../stages.ts";

export function registerSweepCommand(program: Command): void {
    studyCommand(
        program,
        "sweep",
        "one student arm per filter or defense (each with its own control), several seeds: transfer against data kept; resumable",
        loadSweep,
        runSweep,
    );
}
