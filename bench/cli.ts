/** What the benches share: their `--name value` options, and `sublab workshop` started as a user starts it. */
import { spawn } from "node:child_process";
import path from "node:path";

const BIN = path.join(import.meta.dirname, "..", "bin", "sublab.js");

/** The value after `--name` in argv, or the fallback. */
export function flag(argv: string[], name: string, fallback: string): string {
    const k = argv.indexOf(`--${name}`);
    return k >= 0 && argv[k + 1] ? argv[k + 1]! : fallback;
}

/** `sublab workshop SOURCE --no-open --port 0` started in `cwd`: resolves with its address, as printed, and a stop. */
export function startWorkshopCli(source: string, cwd: string): Promise<{ url: string; stop: () => void }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, "workshop", source, "--no-open", "--port", "0"], { cwd, stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        child.stderr.on("data", (d: Buffer) => {
            err += d.toString();
            const m = /workshop: (http:\/\/\S+)/.exec(err);
            if (m) resolve({ url: m[1]!, stop: () => child.kill("SIGINT") });
        });
        child.on("exit", (code) => reject(new Error(`sublab workshop exited ${code}: ${err}`)));
    });
}
