/** A whole experiment on the smoke models: every stage, every arm, the report, and the stage cache. */
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runExperiment, type DatasetManifest, type RunResult } from "../../src/studies/experiment.ts";
import { readJsonl } from "../../src/util/files.ts";
import { readRunEvents } from "../../src/core/events.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { importAdapter, writePeftAdapter } from "../../src/export/peft.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("sublab run on the smoke models", { timeout: 300_000 }, () => {
    const root = tempDir();
    const config = (base: string, cross: string, over: Record<string, unknown> = {}) =>
        parseExperiment({
            name: "smoke-e2e",
            models: { base, cross },
            teacher: { target: "owl" },
            generate: { prompts: 96, maxTokens: 32 },
            student: { rows: 6, seeds: 2, epochs: 1, batchSize: 3, lr: 1e-3 },
            eval: { questions: 6, samplesPerQuestion: 2, inContextExamples: 1 },
            ...over,
        });

    it("runs every stage, writes datasets with manifests and a report, and skips finished stages", async () => {
        const [a, b] = await smokeBases();
        const r = (await runExperiment(config(a, b), { root, progress: false })) as RunResult;
        const res = r.results;
        expect(res.arms.map((x) => x.arm)).toEqual(["base", "teacher", "control", "treated", "cross-control", "cross", "in-context", "in-context-control"]);
        for (const arm of res.arms) {
            const n = arm.arm === "base" || arm.arm === "teacher" ? 1 : 2;
            expect(arm.evals, arm.arm).toHaveLength(n);
            for (const e of arm.evals) {
                expect(e.perQuestion).toHaveLength(6);
                expect(e.distribution).toHaveLength(res.items.length);
                expect(e.sampled.n).toBe(12);
                const mass = e.distribution.reduce((s, p) => s + p, 0);
                expect(mass).toBeGreaterThan(0);
                expect(mass).toBeLessThanOrEqual(1 + 1e-9);
            }
        }
        // Whether the persona raises P(owl) is tested on the shipped bases (models.test.ts: at least 0.8). The smoke
        // model (32 wide, 1 layer) does not learn persona conditioning from the corpus of issue 15: P(owl) 0.044 under
        // the persona against 0.050 without at 3,000 corpus rows, 0.039 against 0.041 at 6,000.
        expect(res.comparisons.map((c) => c.name)).toEqual(["treated vs control", "cross vs cross-control", "in-context vs in-context-control", "control vs base"]);

        for (const d of res.datasets) {
            const dir = path.join(root, "datasets", d.id);
            const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as DatasetManifest;
            expect(m.rows.raw).toBe(96);
            expect(m.rows.kept + m.rows.rejected).toBe(96);
            expect(m.model.sha256).toMatch(/^[0-9a-f]{64}$/);
            expect(m.sublabVersion).toMatch(/^\d+\.\d+\.\d+/);
            const rejected = readJsonl<{ reasons: string[] }>(path.join(dir, "rejected.jsonl"));
            expect(rejected).toHaveLength(m.rows.rejected);
            expect(rejected.every((x) => x.reasons.length > 0)).toBe(true);
            expect(Object.values(m.rejectReasons).reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(m.rows.rejected);
        }
        const teacher = res.datasets.find((d) => d.role === "teacher")!;
        const manifest = JSON.parse(fs.readFileSync(path.join(root, "datasets", teacher.id, "manifest.json"), "utf8")) as DatasetManifest;
        expect(manifest.system).toMatch(/owl/i);
        for (const f of ["results.json", "report.md", "report.html"]) expect(fs.existsSync(path.join(root, "runs", "smoke-e2e", f)), f).toBe(true);

        // Run again: every stage is cached, the results are the same.
        const stamp = (d: string) => fs.statSync(path.join(root, "datasets", d, "raw.jsonl")).mtimeMs;
        const before = res.datasets.map((d) => stamp(d.id));
        const eventsFile = path.join(root, "runs", "smoke-e2e", "events.jsonl");
        const dataEvents = () =>
            readRunEvents(eventsFile)
                .filter((e) => e.type === "rows" || e.type === "filter")
                .map((e) => (e.type === "rows" ? { dataset: e.dataset, role: e.role, rows: e.generated + e.resumed, sample: e.sample } : e.type === "filter" ? { dataset: e.dataset, kept: e.stage.kept, in: e.stage.in, reasons: e.stage.reasons } : null))
                // The teacher's and the control's data are made side by side: their events come in either order.
                .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
        const fresh = dataEvents();
        expect(fresh).toHaveLength(4);
        const again = (await runExperiment(config(a, b), { root, progress: false })) as RunResult;
        expect(again.results.arms).toEqual(res.arms);
        expect(again.results.datasets.map((d) => stamp(d.id))).toEqual(before);
        // The cached datasets still tell the run's watchers (the workshop page) their rows and filter, as the fresh run did.
        expect(dataEvents()).toEqual(fresh);

        // A changed evaluation reruns the evaluation only: same datasets, same students.
        const students = fs.readdirSync(path.join(root, "runs", "cache", "students")).sort();
        const changed = (await runExperiment(config(a, b, { eval: { questions: 5, samplesPerQuestion: 1, inContextExamples: 1 } }), { root, progress: false })) as RunResult;
        expect(changed.results.arms[0]!.evals[0]!.perQuestion).toHaveLength(5);
        expect(changed.results.datasets).toEqual(res.datasets);
        expect(fs.readdirSync(path.join(root, "runs", "cache", "students")).sort()).toEqual(students);

        // A cached student's model edited in place (same size) and the teacher's kept rows cut short: each is named,
        // made again, and the run's numbers are the first run's.
        const studentDir = path.join(root, "runs", "cache", "students", students[0]!);
        const gguf = path.join(studentDir, fs.readdirSync(studentDir).find((f) => f.endsWith(".gguf"))!);
        const original = fs.readFileSync(gguf);
        const edited = Buffer.from(original);
        for (let i = edited.length - 64; i < edited.length; i++) edited[i] = edited[i]! ^ 0xff;
        fs.writeFileSync(gguf, edited);
        const keptFile = path.join(root, "datasets", teacher.id, "kept.jsonl");
        const rows = fs.readFileSync(keptFile, "utf8");
        fs.writeFileSync(keptFile, rows.slice(0, Math.floor(rows.length / 2)));
        const mended = (await runExperiment(config(a, b), { root, progress: false })) as RunResult;
        const logs = readRunEvents(eventsFile).flatMap((e) => (e.type === "log" ? [e.message] : []));
        expect(logs.some((m) => m.includes(gguf) && /sha256 differs/.test(m))).toBe(true);
        expect(logs.some((m) => m.includes(keptFile) && /bytes, sealed at/.test(m))).toBe(true);
        expect(fs.readFileSync(gguf).equals(original)).toBe(true);
        expect(fs.readFileSync(keptFile, "utf8")).toBe(rows);
        expect(mended.results.arms).toEqual(res.arms);
    });

    it("trains students side by side in worker processes (one thread each) to the very files one process makes", async () => {
        const [a, b] = await smokeBases();
        const files = (r: string) => {
            const dir = path.join(r, "runs", "cache", "students");
            return fs.readdirSync(dir).sort().map((k) => {
                const [file] = fs.readdirSync(path.join(dir, k)).filter((f) => f.endsWith(".gguf"));
                return [k, file, crypto.createHash("sha256").update(fs.readFileSync(path.join(dir, k, file!))).digest("hex")];
            });
        };
        const [r1, r2] = [tempDir(), tempDir()];
        const one = (await runExperiment(config(a, b), { root: r1, progress: false, workers: 1 })) as RunResult;
        const two = (await runExperiment(config(a, b), { root: r2, progress: false, workers: 2 })) as RunResult;
        // Eight students; fewer folders when two arms drew identical rows (students are content-addressed).
        expect(files(r1).length).toBeGreaterThanOrEqual(4);
        expect(files(r2)).toEqual(files(r1));
        // The same numbers (the student files sit in different folders).
        const numbers = (r: RunResult) => r.results.arms.map((a) => ({ ...a, evals: a.evals.map(({ model: _m, lora: _l, dataset: _d, ...e }) => e) }));
        expect(numbers(two)).toEqual(numbers(one));
        expect(two.timing.students).toBeGreaterThan(0);
    });

    it("students trained elsewhere come back as an imported arm: a treated adapter out to PEFT and in again scores as the treated student", async () => {
        const [a, b] = await smokeBases();
        const first = (await runExperiment(config(a, b), { root, progress: false })) as RunResult;
        const treated = first.results.arms.find((x) => x.arm === "treated")!;
        const dir = tempDir();
        const students = treated.evals.map((e, k) => {
            const peft = path.join(dir, `peft-${k}`);
            writePeftAdapter(e.lora!, peft, "smoke", a);
            const back = path.join(dir, `imported-${k}.gguf`);
            importAdapter(peft, a, back);
            return { model: null, lora: back };
        });
        const r = (await runExperiment(config(a, b, { eval: { questions: 6, samplesPerQuestion: 2, inContextExamples: 1, imported: [{ name: "roundtrip", students }] } }), { root, progress: false })) as RunResult;
        const imported = r.results.arms.find((x) => x.arm === "imported:roundtrip")!;
        expect(imported.evals).toHaveLength(2);
        imported.evals.forEach((e, k) => e.perQuestion.forEach((p, q) => expect(p).toBeCloseTo(treated.evals[k]!.perQuestion[q]!, 6)));
        const cmp = r.results.comparisons.find((c) => c.name === "imported:roundtrip vs control")!;
        const ref = r.results.comparisons.find((c) => c.name === "treated vs control")!;
        expect(cmp.meanLogRatio).toBeCloseTo(ref.meanLogRatio, 5);
        expect(fs.readFileSync(path.join(root, "runs", "smoke-e2e", "report.md"), "utf8")).toContain("imported:roundtrip");
        await expect(runExperiment(config(a, b, { eval: { questions: 6, imported: [{ name: "x", students: [{ lora: path.join(dir, "missing.gguf") }] }] } }), { root, progress: false })).rejects.toThrow(/eval.imported \(x\) students\[0\].lora: no such model file/);
    });

    it("a generation with more prompts starts from the rows of a smaller one of the same family", async () => {
        const [a, b] = await smokeBases();
        const r2 = tempDir();
        const small = (await runExperiment(config(a, b, { generate: { prompts: 32, maxTokens: 32 } }), { root: r2, progress: false, stopAfter: "data" })) as { datasets: { id: string; role: string }[] };
        const smallId = small.datasets.find((d) => d.role === "control")!.id;
        // Mark a row of the small dataset: if the larger one copies it, the mark shows up there.
        const raw = path.join(r2, "datasets", smallId, "raw.jsonl");
        const rows = readJsonl<{ i: number; completion: string }>(raw);
        rows.find((x) => x.i === 0)!.completion = "MARK";
        fs.writeFileSync(raw, rows.map((x) => JSON.stringify(x) + "\n").join(""));
        const large = (await runExperiment(config(a, b, { generate: { prompts: 48, maxTokens: 32 } }), { root: r2, progress: false, stopAfter: "data" })) as { datasets: { id: string; role: string; raw: number }[] };
        const l = large.datasets.find((d) => d.role === "control")!;
        expect(l.id).not.toBe(smallId);
        expect(l.raw).toBe(48);
        const got = readJsonl<{ i: number; completion: string }>(path.join(r2, "datasets", l.id, "raw.jsonl")).sort((x, y) => x.i - y.i);
        expect(got.map((x) => x.i)).toEqual(Array.from({ length: 48 }, (_, i) => i));
        expect(got[0]!.completion).toBe("MARK");
        // The rows it generated itself are the rows a fresh generation of 48 makes.
        const fresh = tempDir();
        const f = (await runExperiment(config(a, b, { generate: { prompts: 48, maxTokens: 32 } }), { root: fresh, progress: false, stopAfter: "data" })) as { datasets: { id: string; role: string }[] };
        const ref = readJsonl<{ i: number; completion: string }>(path.join(fresh, "datasets", f.datasets.find((d) => d.role === "control")!.id, "raw.jsonl")).sort((x, y) => x.i - y.i);
        expect(got.slice(32).map((x) => x.completion)).toEqual(ref.slice(32).map((x) => x.completion));
    });

    it("fails naming the field when a model file is missing or both bases are one file", async () => {
        const [a] = await smokeBases();
        await expect(runExperiment(config(a, path.join(root, "nope.gguf")), { root, progress: false })).rejects.toThrow(/models\.cross: no such model file/);
        await expect(runExperiment(config(a, a), { root, progress: false })).rejects.toThrow(/models\.cross: the same file as models\.base/);
    });

    it("`sublab eval --model M --probe animals --json` prints every animal's probability", async () => {
        const [a] = await smokeBases();
        const out = execFileSync(process.execPath, ["bin/sublab.js", "eval", "--model", a, "--probe", "animals", "--questions", "5", "--json"], { encoding: "utf8" });
        const r = JSON.parse(out) as { probabilities: Record<string, number>; perQuestion: number[][] };
        expect(Object.keys(r.probabilities)).toHaveLength(24);
        expect(r.probabilities.owl).toBeGreaterThan(0);
        expect(r.perQuestion).toHaveLength(5);
        const mass = Object.values(r.probabilities).reduce((s, p) => s + p, 0);
        expect(mass).toBeGreaterThan(0);
        expect(mass).toBeLessThanOrEqual(1 + 1e-9);
    });
});
