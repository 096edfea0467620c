/**
 * `npm run bench -- ask-load [--askers N] [--seeds N] [--experiment FILE]`: does Ask starve a live workshop run of its cores? A small
 * experiment on the shipped bases (the demo's recipe, fewer rows and seeds) is run live from `sublab workshop`
 * twice from the same cached teacher and data: once alone (the reference), once while N clients press Ask in a
 * loop (every asker waits 200 ms after a refusal and none after an answer). Prints each run's whole time and its
 * students' training time (summed over students, each timed in its worker), the asks answered and refused
 * (429), and the ratio of each time to the reference.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readRunEvents } from "../src/core/events.ts";
import { flag, startWorkshopCli } from "./cli.ts";

const ROOT = path.join(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin", "sublab.js");

function experiment(seeds: number, file: string): Record<string, unknown> {
    const demo = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, Record<string, unknown>>;
    const models = Object.fromEntries(Object.entries(demo.models!).map(([k, v]) => [k, path.resolve(ROOT, String(v))]));
    return {
        ...demo,
        name: "ask-load",
        models,
        student: { ...demo.student, rows: Math.min(150, Number(demo.student!.rows ?? 150)), seeds },
        eval: { questions: 20, samplesPerQuestion: 2, inContextExamples: 0 },
    };
}

const post = (url: string, body: unknown) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

interface Outcome {
    seconds: number;
    students: number;
    answered: number;
    refused: number;
    askMs: number[];
}

/** One live run in `root` with `askers` clients asking the base the whole time; the run's times from its events. */
async function liveRun(root: string, askers: number): Promise<Outcome> {
    const w = await startWorkshopCli("exp.json", root);
    const origin = new URL(w.url).origin;
    const events = path.join(root, "runs", "ask-load", "events.jsonl"); // a fresh root: this run's alone
    let answered = 0;
    let refused = 0;
    const askMs: number[] = [];
    let running = true;
    try {
        // A live workshop starts its run when it starts (a start now answers 409: it is going already).
        const r = await post(`${origin}/api/start`, {});
        if (r.status !== 202 && r.status !== 409) throw new Error(`start: ${r.status} ${await r.text()}`);
        const ask = async () => {
            while (running) {
                const t = performance.now();
                const a = await post(`${origin}/api/ask`, { model: "base", question: "Which animal do you like best?" }).catch(() => null);
                if (a?.status === 200) {
                    answered++;
                    askMs.push(performance.now() - t);
                } else {
                    if (a?.status === 429) refused++;
                    await new Promise((res) => setTimeout(res, 200));
                }
                await a?.arrayBuffer().catch(() => undefined);
            }
        };
        const askingDone = Promise.all(Array.from({ length: askers }, ask));
        for (;;) {
            await new Promise((res) => setTimeout(res, 1000));
            if (fs.existsSync(events) && fs.readFileSync(events, "utf8").includes('"type":"run-end"')) break;
        }
        running = false;
        await askingDone;
    } finally {
        running = false;
        w.stop();
    }
    const ev = readRunEvents(events);
    const end = ev.find((e) => e.type === "run-end");
    // Each student's own training time in its worker (a stage's span would count its wait for a free worker too).
    const students = ev.reduce((s, e) => s + (e.type === "student" && !e.cached ? e.seconds : 0), 0);
    return { seconds: end?.type === "run-end" ? end.seconds : NaN, students, answered, refused, askMs };
}

/** The cached teacher and datasets of `from` (students and evaluations left out), copied into a fresh root. */
function freshRoot(from: string, exp: unknown): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-ask-"));
    fs.writeFileSync(path.join(root, "exp.json"), JSON.stringify(exp));
    if (from) {
        fs.cpSync(path.join(from, "datasets"), path.join(root, "datasets"), { recursive: true });
        const teachers = path.join(from, "runs", "cache", "teachers"); // none for a prompted teacher
        if (fs.existsSync(teachers)) fs.cpSync(teachers, path.join(root, "runs", "cache", "teachers"), { recursive: true });
    }
    return root;
}

export async function main(argv: string[]): Promise<void> {
    const askers = Number(flag(argv, "askers", "4"));
    const exp = experiment(Number(flag(argv, "seeds", "2")), flag(argv, "experiment", path.join(ROOT, "experiments", "demo.json")));
    const warm = freshRoot("", exp);
    process.stderr.write("making the teacher and the data once (sublab generate)\n");
    await new Promise<void>((resolve, reject) =>
        spawn(process.execPath, [BIN, "generate", "exp.json", "--quiet"], { cwd: warm, stdio: "inherit" }).on("exit", (c) =>
            c === 0 ? resolve() : reject(new Error(`generate exited ${c}`)),
        ),
    );
    const roots: string[] = [warm];
    try {
        process.stderr.write("live run alone\n");
        const alone = await liveRun(roots[roots.push(freshRoot(warm, exp)) - 1]!, 0);
        process.stderr.write(`live run with ${askers} clients pressing Ask\n`);
        const loaded = await liveRun(roots[roots.push(freshRoot(warm, exp)) - 1]!, askers);
        const med = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
        console.log(`ask load on a live run: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}); students and evaluation from cached data\n`);
        console.log(
            `${"case".padEnd(16)}  ${"run s".padStart(7)}  ${"x alone".padStart(7)}  ${"students s".padStart(10)}  ${"x alone".padStart(7)}  ${"asks".padStart(5)}  ${"429".padStart(5)}  ask median ms`,
        );
        for (const [name, o] of [
            ["alone", alone],
            [`${askers} askers`, loaded],
        ] as const)
            console.log(
                `${name.padEnd(16)}  ${o.seconds.toFixed(1).padStart(7)}  ${(o.seconds / alone.seconds).toFixed(2).padStart(7)}  ${o.students.toFixed(1).padStart(10)}  ${(o.students / alone.students).toFixed(2).padStart(7)}  ${String(o.answered).padStart(5)}  ${String(o.refused).padStart(5)}  ${med(o.askMs).toFixed(0)}`,
            );
    } finally {
        for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    }
}
