/** `sublab workshop [EXPERIMENT | RUN]`: the live page for a room (src/workshop/). */
import { spawn } from "node:child_process";
import path from "node:path";
import type { Command } from "commander";
import { startWorkshop } from "../../studies/workshop-session.ts";
import { parseNonNegativeInteger } from "../options.ts";

/** The recording replayed when no source is given: the workshop preset's run, shipped in the repository. */
export const DEFAULT_RECORDING = path.join(import.meta.dirname, "..", "..", "..", "experiments", "recordings", "workshop.events.jsonl");

interface WorkshopFlags {
    host: string;
    allowHost: string[];
    port: string;
    open: boolean;
    start: boolean;
}

/** Opens the page in the desktop's browser, when there is one; a machine without one just prints the address. */
function openBrowser(url: string): void {
    const [cmd, args] =
        process.platform === "darwin" ? ["open", [url]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", url]] : ["xdg-open", [url]];
    try {
        const child = spawn(cmd, args, { stdio: "ignore", detached: true });
        child.on("error", () => undefined);
        child.unref();
    } catch {
        // no browser to open: the address is printed
    }
}

export function registerWorkshopCommand(program: Command): void {
    program
        .command("workshop")
        .argument(
            "[source]",
            "an experiment file (run live), a run folder or an events.jsonl (replayed); default: the shipped recording of experiments/workshop.json",
        )
        .description(
            "a live page for a room: the teacher, its numbers beside the control's, the filter, the students training, their answers and the verdict, step by step (keys: arrows, 1-7, R reveal, A ask, Q and [ ] for a population)",
        )
        .option(
            "--host <address>",
            "address to listen on; anything but 127.0.0.1 shares the page read-only (the presenter's address carries a key)",
            "127.0.0.1",
        )
        .option("--port <n>", "port (0: a free one)", "4173")
        .option(
            "--allow-host <name>",
            "another name of this machine the room may use in its address (repeat for more); others are refused",
            (v: string, acc: string[] = []) => [...acc, v],
            [],
        )
        .option("--no-open", "do not open a browser")
        .option("--no-start", "from an experiment file: wait for the presenter to start the run")
        .action(async (source: string | undefined, raw: WorkshopFlags) => {
            const w = await startWorkshop({
                source: source ?? DEFAULT_RECORDING,
                host: raw.host,
                allowHosts: raw.allowHost,
                port: parseNonNegativeInteger(raw.port, "--port"),
                start: raw.start,
            });
            process.stderr.write(`workshop: ${w.presenterUrl}${w.shared ? `  (the presenter's address; the room's: ${w.url})` : ""}\nCtrl-C stops it.\n`);
            if (raw.open) openBrowser(w.presenterUrl);
            await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
            await w.close();
        });
}
