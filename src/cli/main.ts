/**
 * The `sublab` command line. Each command lives in its own file under commands/ and registers itself on
 * the program; this file only wires them together and turns a thrown Error into `sublab: <message>` on
 * stderr with exit code 1 (the stack trace too when SUBLAB_DEBUG is set, or when the error is a bug of sublab's own).
 */
import { Command } from "commander";
import { registerRunCommand } from "./commands/RunCommand.ts";
import { registerGenerateCommand } from "./commands/GenerateCommand.ts";
import { registerFilterCommand } from "./commands/FilterCommand.ts";
import { registerEvalCommand } from "./commands/EvalCommand.ts";
import { registerSweepCommand } from "./commands/SweepCommand.ts";
import { registerChainCommand } from "./commands/ChainCommand.ts";
import { registerPopulationCommand } from "./commands/PopulationCommand.ts";
import { registerStudyCommand } from "./commands/StudyCommand.ts";
import { registerReportCommand } from "./commands/ReportCommand.ts";
import { registerCompareCommand } from "./commands/CompareCommand.ts";
import { registerKeepCommand } from "./commands/KeepCommand.ts";
import { registerCacheCommand } from "./commands/CacheCommand.ts";
import { registerRestatCommand } from "./commands/RestatCommand.ts";
import { registerVerdictsCommand } from "./commands/VerdictsCommand.ts";
import { registerWorkshopCommand } from "./commands/WorkshopCommand.ts";
import { registerTrainCommand } from "./commands/TrainCommand.ts";
import { registerSelftestCommand } from "./commands/SelftestCommand.ts";
import { registerForgeCommand } from "./commands/ForgeCommand.ts";
import { registerExportCommand } from "./commands/ExportCommand.ts";
import { registerImportAdapterCommand } from "./commands/ImportAdapterCommand.ts";
import { registerExportAdapterCommand } from "./commands/ExportAdapterCommand.ts";
import { registerExportOnnxCommand } from "./commands/ExportOnnxCommand.ts";
import { registerAuditCommand } from "./commands/AuditCommand.ts";
import { registerTheoremCommand } from "./commands/TheoremCommand.ts";
import { registerEntangleCommand } from "./commands/EntangleCommand.ts";
import { registerDefenderCommand } from "./commands/DefenderCommand.ts";
import { refuseOversizeWrites, writeError } from "../util/files.ts";

/** The program with every command registered; `runCli` parses and runs it. */
export function createProgram(): Command {
    const program = new Command();
    program
        .name("sublab")
        .description("Reproduce and study subliminal learning on your laptop, offline")
        .showHelpAfterError("(run with --help for usage)")
        .showSuggestionAfterError();
    // In the order `sublab --help` lists them: the pipeline, the studies, the results, the tools.
    for (const register of [
        registerRunCommand,
        registerGenerateCommand,
        registerFilterCommand,
        registerEvalCommand,
        registerSweepCommand,
        registerChainCommand,
        registerPopulationCommand,
        registerStudyCommand,
        registerReportCommand,
        registerCompareCommand,
        registerKeepCommand,
        registerCacheCommand,
        registerRestatCommand,
        registerVerdictsCommand,
        registerWorkshopCommand,
        registerTrainCommand,
        registerSelftestCommand,
        registerForgeCommand,
        registerDefenderCommand,
        registerExportCommand,
        registerImportAdapterCommand,
        registerExportAdapterCommand,
        registerExportOnnxCommand,
        registerAuditCommand,
        registerTheoremCommand,
        registerEntangleCommand,
    ]) {
        register(program);
    }
    return program;
}

/** Runs the CLI on `argv` (node's, with the executable and script first) and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
    // Output piped into a reader that stops early (`sublab eval ... | head`): stop quietly, as other CLIs do.
    process.stdout.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") process.exit(0);
        throw e;
    });
    refuseOversizeWrites();
    try {
        await createProgram().parseAsync([...argv]);
        // A handler may set its own exit code (e.g. 130 for an interrupted run).
        return typeof process.exitCode === "number" ? process.exitCode : 0;
    } catch (thrown) {
        // A write refused for lack of room or rights that no writer named yet (a folder made, a lock taken).
        const err = (thrown as NodeJS.ErrnoException | null)?.path ? writeError(thrown, (thrown as NodeJS.ErrnoException).path!) : thrown;
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`sublab: ${message}\n`);
        // A TypeError or ReferenceError is sublab's own mistake, not the user's: its stack goes with it, to be reported.
        const bug = err instanceof TypeError || err instanceof ReferenceError;
        if (bug) process.stderr.write(`sublab: this is a bug in sublab; please report it with the lines below\n`);
        if ((bug || process.env.SUBLAB_DEBUG) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
        return 1;
    }
}

process.exitCode = await runCli(process.argv);
