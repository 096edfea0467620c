/**
 * Nothing lost, nothing done twice: every long command killed with SIGKILL at seeded random moments (its workers
 * with it), then run to the end, gives the results (times aside) and the very cached students and datasets of a
 * run never killed. The table of commands, kills and outcomes is printed for the record.
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killAndResume, outcome, sublab } from "../helpers/faults.ts";
import { smokeBases, smokeExperiment } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const KILLS = 2;
const table: string[] = [];
afterAll(() => console.log(["command      kills  killed mid-way  identical", ...table].join("\n")));

/** The smoke experiment and the study files built on it, written into `root`. */
function writeFiles(root: string, base: string, cross: string): void {
    const w = (name: string, v: unknown) => fs.writeFileSync(path.join(root, name), JSON.stringify(v));
    w("exp.json", {
        name: "smoke-exp",
        models: { base, cross },
        teacher: { target: "owl", trait: "finetune", finetune: { rows: 40, epochs: 1, lr: 3e-3, method: "full" } },
        generate: { prompts: 60, maxTokens: 24 },
        student: { method: "full", labels: "soft", rows: 8, seeds: 2, epochs: 1, batchSize: 4, lr: 1e-3 },
        eval: { questions: 4, samplesPerQuestion: 2, inContextExamples: 1 },
    });
    w("sweep.json", { name: "smoke-sweep", experiment: "exp.json", arms: [{ name: "no defense", defenses: [] }, { name: "dedupe", defenses: ["dedupe"] }] });
    w("chain.json", { name: "smoke-chain", experiment: "exp.json", generations: 2, prompts: 60 });
    w("population.json", {
        name: "smoke-pop",
        experiment: "exp.json",
        agents: 3,
        rounds: 2,
        prompts: 16,
        rows: 6,
        monitor: { questions: 2, threshold: 1.0001, from: 1 },
        overrides: { student: { labels: "sampled", seeds: 1 } },
    });
    // A conversing population with every mode: the door, the data-level monitor, and the in-context populations.
    w("population-talk.json", {
        name: "smoke-talk",
        experiment: "exp.json",
        agents: 3,
        rounds: 2,
        prompts: 8,
        rows: 6,
        conversation: true,
        inContext: true,
        monitor: { questions: 2, threshold: 1.0001, from: 1 },
        dataMonitor: { falsePositiveRate: 0.25 },
        overrides: { student: { labels: "sampled", seeds: 1 }, filter: { defenses: ["banned:numbers=0|1|2|3|4|5|6|7|8|9"] } },
    });
    w("study.json", {
        name: "smoke-study",
        experiment: "exp.json",
        axes: [{ name: "epochs", values: [{ label: "1 epoch", set: {} }, { label: "2 epochs", set: { student: { epochs: 2 } } }] }],
    });
}

describe("killed at random and resumed", { timeout: 900_000 }, () => {
    it.each([
        ["run", "exp.json", "smoke-exp"],
        ["sweep", "sweep.json", "smoke-sweep"],
        ["chain", "chain.json", "smoke-chain"],
        ["population", "population.json", "smoke-pop"],
        ["population", "population-talk.json", "smoke-talk"],
        ["study", "study.json", "smoke-study"],
    ])("sublab %s %s", async (command, file, run) => {
        const [a, b] = await smokeBases();
        const [clean, killed] = [tempDir(), tempDir()];
        for (const r of [clean, killed]) writeFiles(r, a, b);
        const t0 = performance.now();
        expect(await sublab(clean, [command, file, "--quiet"])).toBe(0);
        const span = performance.now() - t0;
        const midway = await killAndResume(killed, [command, file, "--quiet"], { kills: KILLS, spanMs: span, seed: [...command].reduce((h, ch) => h * 31 + ch.charCodeAt(0), 7) });
        const [want, got] = [outcome(clean, run), outcome(killed, run)];
        const same = JSON.stringify(got) === JSON.stringify(want);
        const name = run === "smoke-talk" ? "population (conversing)" : command;
        table.push(`${name.padEnd(11)}  ${String(KILLS).padStart(5)}  ${String(midway).padStart(14)}  ${same ? "yes" : "NO"}`);
        expect(got.results).toEqual(want.results);
        expect(got.students).toEqual(want.students);
        expect(got.datasets).toEqual(want.datasets);
        // At least one kill must have landed mid-way for the case to say anything.
        expect(midway).toBeGreaterThan(0);
    });

    it("sublab forge (smoke preset)", async () => {
        const [clean, killed] = [tempDir(), tempDir()];
        const args = (root: string) => ["forge", "--preset", "smoke", "--seed", "3", "--out", path.join(root, "m.gguf")];
        const t0 = performance.now();
        expect(await sublab(clean, args(clean))).toBe(0);
        // Once: the slowest command; a killed forge resumes from its checkpoint in <out>.forge/.
        const midway = await killAndResume(killed, args(killed), { kills: 1, spanMs: performance.now() - t0, seed: 11 });
        const hash = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
        const same = hash(path.join(killed, "m.gguf")) === hash(path.join(clean, "m.gguf"));
        table.push(`${"forge".padEnd(11)}  ${String(1).padStart(5)}  ${String(midway).padStart(14)}  ${same ? "yes" : "NO"}`);
        expect(same).toBe(true);
        expect(midway).toBeGreaterThan(0);
    });
});

describe("a write refused for lack of room", { timeout: 300_000 }, () => {
    // A full disk, as this machine can make one without privileges: the process's file-size limit (ulimit -f;
    // Node ignores SIGXFSZ) refuses the first write past 512 KiB with EFBIG, as a full disk refuses one with
    // ENOSPC. The smoke teacher is prompted, so the datasets are written and the first student's model is refused.
    it("names the file, leaves nothing half-written in use, and a rerun with room gives the run never refused", async () => {
        const bases = await smokeBases();
        const [clean, refused] = [tempDir(), tempDir()];
        const e = smokeExperiment("smoke-full", bases);
        const exp = { ...e, student: { ...(e.student as object), method: "full" } }; // a student model of 1.1 MB
        for (const r of [clean, refused]) fs.writeFileSync(path.join(r, "exp.json"), JSON.stringify(exp));
        expect(await sublab(clean, ["run", "exp.json", "--quiet"])).toBe(0);
        const bin = path.resolve("bin/sublab.js");
        const command = `ulimit -f 512; exec "${process.execPath}" "${bin}" run exp.json --quiet`;
        const full = spawnSync("bash", ["-c", command], { cwd: refused, encoding: "utf8" });
        expect(full.status).toBe(1);
        expect(full.stderr).toMatch(new RegExp(`cannot write ${refused.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/\\S+: .* \\(EFBIG\\)\\. What was finished is kept`));
        expect(fs.existsSync(path.join(refused, "runs", "smoke-full", "results.json"))).toBe(false);
        const leftovers = (dir: string): string[] =>
            fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? leftovers(path.join(dir, e.name)) : /\.tmp-\d+$/.test(e.name) ? [e.name] : []));
        expect(leftovers(refused)).toEqual([]);
        expect(await sublab(refused, ["run", "exp.json", "--quiet"])).toBe(0);
        const [want, got] = [outcome(clean, "smoke-full"), outcome(refused, "smoke-full")];
        expect(got).toEqual(want);
    });
});
