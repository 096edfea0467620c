/** `sublab chain FILE` (src/studies/chain.ts). */
import type { Command } from "commander";
import { loadChain, runChain } from "../../studies/chain.ts";
import { studyCommand } from "../stages.ts";

export function registerChainCommand(program: Command): void {
    studyCommand(
        program,
        "chain",
        "generations of students, each trained on the previous one's data, beside a control chain from the base: the trait per generation; resumable",
        loadChain,
        runChain,
    );
}
