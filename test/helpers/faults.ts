/**
 * Fault injection: a command started, killed with SIGKILL (its whole process group: workers too, as a power cut
 * would) at seeded random moments, then run to the end; and what a run leaves that must not depend on whether it
 * was killed: its results without their times, and the content of every cached student and dataset.
 */
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Rng } from "../../src/util/rng.ts";

const BIN = path.resolve("bin/sublab.js");

/** Runs `sublab ARGS` in `root`; resolves with its exit code, or "killed" when `killAfterMs` passed first. */
export function sublab(root: string, args: readonly string[], killAfterMs?: number): Promise<number | "killed"> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, ...args], { cwd: root, detached: true, stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        let killed = false;
        const timer =
            killAfterMs === undefined
                ? undefined
                : setTimeout(() => {
                      killed = true;
                      try {
                          process.kill(-child.pid!, "SIGKILL");
                      } catch {
                          // It ended just now.
                      }
                  }, killAfterMs);
        child.on("error", reject);
        child.on("exit", (code) => {
            clearTimeout(timer);
            if (killed && code !== 0) return resolve("killed");
            if (code !== 0) return reject(new Error(`sublab ${args.join(" ")} exited ${code}: ${err.slice(-2000)}`));
            resolve(0);
        });
    });
}

/** `kills` runs killed at random moments within `spanMs`, then one to the end: how many were killed mid-way. */
export async function killAndResume(root: string, args: readonly string[], o: { kills: number; spanMs: number; seed: number }): Promise<number> {
    const rng = new Rng(o.seed);
    let midway = 0;
    for (let k = 0; k < o.kills; k++) {
        const at = Math.round(300 + rng.next() * Math.max(0, o.spanMs - 300));
        if ((await sublab(root, args, at)) === "killed") midway++;
    }
    expectZero(await sublab(root, args));
    return midway;
}

function expectZero(code: number | "killed"): void {
    if (code !== 0) throw new Error(`the last run did not finish: ${code}`);
}

// Times, which no two runs share: a study cell's mean training seconds per student among them.
const TIMES = new Set(["startedAt", "seconds", "timing", "sublabVersion", "studentSeconds"]);
const stripTimes = (v: unknown): unknown =>
    Array.isArray(v)
        ? v.map(stripTimes)
        : v && typeof v === "object"
          ? Object.fromEntries(
                Object.entries(v)
                    .filter(([k]) => !TIMES.has(k))
                    .map(([k, x]) => [k, stripTimes(x)]),
            )
          : v;

/** A finished run's results without times, and the sha256 of every cached student model and every dataset's rows. */
export function outcome(root: string, run: string): { results: unknown; students: Record<string, string>; datasets: Record<string, string> } {
    const hash = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
    const students: Record<string, string> = {};
    const sdir = path.join(root, "runs", "cache", "students");
    for (const k of fs.existsSync(sdir) ? fs.readdirSync(sdir) : []) {
        for (const f of fs.readdirSync(path.join(sdir, k)).filter((x) => x.endsWith(".gguf"))) students[`${k}/${f}`] = hash(path.join(sdir, k, f));
    }
    const datasets: Record<string, string> = {};
    const ddir = path.join(root, "datasets");
    for (const d of fs.existsSync(ddir) ? fs.readdirSync(ddir) : []) {
        const kept = path.join(ddir, d, "kept.jsonl");
        if (fs.existsSync(kept)) datasets[d] = hash(kept);
    }
    // Paths inside the results (the students' files) name the folder they were made in: compared from it.
    const text = fs
        .readFileSync(path.join(root, "runs", run, "results.json"), "utf8")
        .split(root)
        .join("<root>");
    const results = stripTimes(JSON.parse(text));
    return { results, students, datasets };
}
