/**
 * What the commands share: parsing of option values (strict patterns, errors naming the flag), the options
 * several commands take (--threads, --workers, --quiet), and Ctrl-C as an abort signal.
 */
import { type Command, Option } from "commander";
import { Interrupted, type RunOptions } from "../core/context.ts";
import { interruptSignal } from "../util/interrupt.ts";

export type Parse<T> = (value: string, flag: string) => T;

export function optional<T>(value: string | undefined, flag: string, parse: Parse<T>): T | undefined {
    return value === undefined ? undefined : parse(value, flag);
}

/** Decimal or exponent notation only: Number() would also take "", " 1 ", "0x10" and "Infinity". */
const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function parsePositiveNumber(value: string, flag: string): number {
    const n = NUMBER_PATTERN.test(value) ? Number(value) : NaN;
    if (!(n > 0) || !Number.isFinite(n)) {
        throw new Error(`${flag} must be a positive number, got ${JSON.stringify(value)}`);
    }
    return n;
}

export function parsePositiveInteger(value: string, flag: string): number {
    return parseInteger(value, flag, 1);
}

export function parseNonNegativeInteger(value: string, flag: string): number {
    return parseInteger(value, flag, 0);
}

function parseInteger(value: string, flag: string, min: 0 | 1): number {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
        const kind = min === 1 ? "positive" : "non-negative";
        throw new Error(`${flag} must be a ${kind} integer, got ${JSON.stringify(value)}`);
    }
    return n;
}

// ---- options many commands share, declared once ----

/** What --threads, --workers and --quiet give. */
export interface CommonFlags {
    threads?: string;
    workers?: string;
    quiet?: boolean;
}

const WORKERS_HELP =
    "worker processes, one thread each, that generate, train students and evaluate side by side (default: one per core; 1 does everything in this process)";

/** --threads N (the help names the default where a command's differs): `.addOption(threadsFlag())`. */
export const threadsFlag = (help = "CPU threads (default: all available)"): Option => new Option("--threads <n>", help);

/** --quiet. */
export const quietFlag = (help = "no progress bars or stage lines"): Option => new Option("--quiet", help);

/** --threads, --workers and --quiet: the options of every command that runs an experiment or a study. */
export function runFlags(cmd: Command): Command {
    return cmd.addOption(threadsFlag()).addOption(new Option("--workers <n>", WORKERS_HELP)).addOption(quietFlag());
}

export const threadsOf = (raw: { threads?: string }): number | undefined => optional(raw.threads, "--threads", parsePositiveInteger);

/** The run options of the flags: threads, workers, progress. */
export function runOptionsOf(raw: CommonFlags): Pick<RunOptions, "threads" | "workers" | "progress"> {
    return { threads: threadsOf(raw), workers: optional(raw.workers, "--workers", parsePositiveInteger), progress: !raw.quiet };
}

/** Runs a resumable job with Ctrl-C turned into an abort signal; an interrupted job exits 130 with how to resume. */
export async function interruptible(job: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const interrupt = interruptSignal();
    try {
        await job(interrupt.signal);
    } catch (err) {
        if (err instanceof Interrupted) {
            process.stderr.write(`sublab: ${err.message}\n`);
            process.exitCode = 130;
            return;
        }
        throw err;
    } finally {
        interrupt.release();
    }
}
