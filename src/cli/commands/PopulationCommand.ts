/** `sublab population FILE` (src/studies/population.ts). */
import type { Command } from "commander";
import { runPopulation } from "../../studies/population.ts";
import { loadPopulation } from "../../studies/population-file.ts";
import { studyCommand } from "../stages.ts";

export function registerPopulationCommand(program: Command): void {
    studyCommand(
        program,
        "population",
        "agents that train on each other's outputs round after round: the epidemic curve with and without a monitor that quarantines, and a null population; resumable",
        loadPopulation,
        runPopulation,
    );
}
