/**
 * The `sublab` command line. Each command lives in its own file under commands/ and registers itself on
 * the program; this file only wires them together and turns a thrown Error into `sublab: <message>` on
 * stderr with exit code 1 (the stack trace too when SUBLAB_DEBUG is set).
 */
import { Command } from "commander";
import { registerExperimentCommands } from "./commands/ExperimentCommands.ts";
import { registerAuditCommand } from "./commands/AuditCommand.ts";
import { registerTheoremCommand } from "./commands/TheoremCommand.ts";
import { registerEntangleCommand } from "./commands/EntangleCommand.ts";
import { registerExportCommand } from "./commands/ExportCommand.ts";
import { registerForgeCommand } from "./commands/ForgeCommand.ts";
import { registerKeepCommand, registerRestatCommand } from "./commands/KeepCommand.ts";
import { registerVerdictsCommand } from "./commands/VerdictsCommand.ts";
import { registerSelftestCommand } from "./commands/SelftestCommand.ts";
import { registerTrainCommand } from "./commands/TrainCommand.ts";
import { registerWorkshopCommand } from "./commands/WorkshopCommand.ts";

/** The program with every command registered; `runCli` parses and runs it. */
export function createProgram(): Command {
    const program = new Command();
    program
        .name("sublab")
        .description("Reproduce and study subliminal learning on your laptop, offline")
        .showHelpAfterError("(run with --help for usage)")
        .showSuggestionAfterError();
    registerTrainCommand(program);
    registerSelftestCommand(program);
    registerForgeCommand(program);
    registerExperimentCommands(program);
    registerExportCommand(program);
    registerAuditCommand(program);
    registerTheoremCommand(program);
    registerWorkshopCommand(program);
    registerEntangleCommand(program);
    registerKeepCommand(program);
    registerRestatCommand(program);
    registerVerdictsCommand(program);
    return program;
}

/** Runs the CLI on `argv` (node's, with the executable and script first) and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
    // Output piped into a reader that stops early (`sublab eval ... | head`): stop quietly, as other CLIs do.
    process.stdout.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") process.exit(0);
        throw e;
    });
    try {
        await createProgram().parseAsync([...argv]);
        // A handler may set its own exit code (e.g. 130 for an interrupted run).
        return typeof process.exitCode === "number" ? process.exitCode : 0;
    } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`sublab: ${message}\n`);
        if (process.env.SUBLAB_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
        return 1;
    }
}

process.exitCode = await runCli(process.argv);
