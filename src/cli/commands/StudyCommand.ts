/** `sublab study FILE` (src/studies/study.ts). */
import type { Command } from "commander";
import { loadStudy, runStudy } from "../../studies/study.ts";
import { studyCommand } from "../stages.ts";

export function registerStudyCommand(program: Command): void {
    studyCommand(
        program,
        "study",
        "a grid over the student recipe (LoRA rank, full fine-tuning, optimizer, labels, rows, epochs, evaluation context), each cell a treated/control pair with seeds on shared cached data: a heatmap of transfer; resumable",
        loadStudy,
        runStudy,
    );
}
