/**
 * student.mix, a dose of the teacher's data: exactly round(f x n) of a student's rows are the teacher's, the rest
 * the control's rows for the same prompts, nested as f grows; at f = 0 the treated student is the control student
 * (so its transfer is exactly nothing), at f = 1 it is the unmixed treated student.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Results } from "../../src/core/results.ts";
import { makeContext } from "../../src/studies/skeleton.ts";
import { runExperiment, type DatasetManifest, type RunResult, type StoppedRun } from "../../src/studies/experiment.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { loadStudy, runStudy } from "../../src/studies/study.ts";
import { mixedParts, pairedOrder, seedSlice } from "../../src/students/student-stage.ts";
import { smokeBases, smokeExperiment } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("student.mix: a dose of the teacher's data", { timeout: 300_000 }, () => {
    const root = tempDir();
    const config = async (mix?: number) => {
        const e = smokeExperiment("smoke-dose", await smokeBases());
        return parseExperiment({ ...e, student: { ...(e.student as object), rows: 10, ...(mix === undefined ? {} : { mix }) } });
    };

    it("takes exactly round(f x n) rows from the teacher, the others from the control, on the same prompts, nested in f", async () => {
        const cfg = await config(0.4);
        const r = (await runExperiment(cfg, { root, progress: false, stopAfter: "data" })) as StoppedRun;
        expect(r.stopped).toBe("data");
        const c = makeContext(cfg, { root, progress: false }, "smoke-dose-test");
        const read = (id: string) => JSON.parse(fs.readFileSync(path.join(root, "datasets", id, "manifest.json"), "utf8")) as DatasetManifest;
        const [teacher, control] = [read(r.datasets.find((d) => d.id.startsWith("owl-teacher"))!.id), read(r.datasets.find((d) => d.id.startsWith("control"))!.id)];
        const order = pairedOrder(c, [teacher, control])!;
        for (const s of [0, 1]) {
            const indices = seedSlice(order, s, 10)!;
            let before = new Set<number>();
            for (const f of [0, 0.1, 0.25, 0.4, 0.55, 1]) {
                const parts = mixedParts(c, teacher, control, s, indices, f);
                const of = (ds: DatasetManifest) => parts.find((p) => p.ds.id === ds.id)?.rows ?? [];
                const [t, k] = [of(teacher), of(control)];
                expect(t.length, `seed ${s}, f ${f}`).toBe(Math.round(f * 10));
                expect(t.length + k.length).toBe(10);
                expect([...t, ...k].map((x) => x.i).sort((a, b) => a - b)).toEqual([...indices].sort((a, b) => a - b));
                // Each row is its dataset's row for that prompt.
                const rowOf = (ds: DatasetManifest) => new Map(c.kept(ds).map((x) => [x.i, x.completion]));
                expect(t.every((x) => rowOf(teacher).get(x.i) === x.completion)).toBe(true);
                expect(k.every((x) => rowOf(control).get(x.i) === x.completion)).toBe(true);
                const now = new Set(t.map((x) => x.i));
                expect([...before].every((i) => now.has(i)), `the dose at ${f} holds the smaller one`).toBe(true);
                before = now;
            }
        }
    });

    it("at f = 0 the treated students are the control students; at f = 1 the unmixed treated students", async () => {
        const arms = (r: Results, arm: string) => r.arms.find((a) => a.arm === arm)!.evals.map((e) => `${e.model} + ${e.lora}`);
        const none = ((await runExperiment(await config(), { root, progress: false })) as RunResult).results;
        const zero = ((await runExperiment(await config(0), { root, progress: false })) as RunResult).results;
        const one = ((await runExperiment(await config(1), { root, progress: false })) as RunResult).results;
        expect(arms(zero, "treated")).toEqual(arms(zero, "control"));
        expect(arms(zero, "cross")).toEqual(arms(zero, "cross-control"));
        const tc = zero.comparisons.find((x) => x.name === "treated vs control")!;
        expect(tc.meanLogRatio).toBe(0);
        expect(arms(one, "treated")).toEqual(arms(none, "treated"));
        expect(arms(none, "treated")).not.toEqual(arms(none, "control"));
    });

    it("a study over student.mix fits the dose-response and draws it in its report", async () => {
        const e = smokeExperiment("smoke-dose", await smokeBases());
        fs.writeFileSync(path.join(root, "exp.json"), JSON.stringify({ ...e, student: { ...(e.student as object), rows: 10 } }));
        const file = path.join(root, "dose.json");
        const doses = [0, 0.3, 0.6, 1];
        fs.writeFileSync(
            file,
            JSON.stringify({ name: "smoke-dose-study", experiment: "exp.json", axes: [{ name: "dose", values: doses.map((f) => ({ label: `${f}`, set: { student: { mix: f } } })) }] }),
        );
        const r = await runStudy(loadStudy(file), { root, progress: false });
        expect(r.results.cells.map((c) => c.dose)).toEqual(doses);
        expect(r.results.dose!.points.map((p) => p.f)).toEqual(doses);
        expect(r.results.dose!.points[0]!.transfer).toBe(0);
        expect(["threshold", "slope", "can't tell"]).toContain(r.results.dose!.shape);
        expect(r.table).toContain("dose-response: slope: transfer = ");
        const html = fs.readFileSync(r.files.html, "utf8");
        expect(html).toContain("<h2>Dose-response</h2>");
        expect(html).toContain('aria-label="transfer against dose"');
    });
});
