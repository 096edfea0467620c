/** `sublab study` on the smoke models: axes and product grids, shared data, SGD and LoRA cells, the training-context evaluation, resumption, the report, file errors. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseStudy, runStudy } from "../../src/studies/study.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const bin = path.resolve("bin/sublab.js");

describe("sublab study on the smoke models", { timeout: 400_000 }, () => {
    const root = tempDir();

    function writeFiles(base: string, cross: string, study: Record<string, unknown>) {
        fs.writeFileSync(
            path.join(root, "exp.json"),
            JSON.stringify({
                name: "smoke-exp",
                models: { base, cross },
                teacher: { target: "owl" },
                generate: { prompts: 80, maxTokens: 24 },
                student: { method: "full", labels: "soft", rows: 8, seeds: 2, epochs: 1, batchSize: 4, lr: 1e-3 },
                eval: { questions: 4, samplesPerQuestion: 0, inContextExamples: 0 },
            }),
        );
        const file = path.join(root, `${String(study.name ?? "smoke-study")}.json`);
        fs.writeFileSync(file, JSON.stringify({ name: "smoke-study", experiment: "exp.json", ...study }));
        return file;
    }

    it("trains a treated/control pair per cell on one shared dataset, evaluates in the training context, resumes from the cache", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, {
            axes: [
                { name: "method", values: [{ label: "full", set: {} }, { label: "LoRA r2", set: { student: { method: "lora", rank: 2, alpha: 2, lr: 2e-3 } } }] },
                { name: "optimizer", values: [{ label: "SGD", set: { student: { optimizer: "sgd", lr: 0.05 } } }] },
                {
                    name: "eval context",
                    values: [
                        { label: "asked plain", set: { student: { system: "You write numbers." } } },
                        { label: "asked in context", set: { student: { system: "You write numbers." } }, eval: "training" },
                    ],
                },
            ],
        });
        const sd = parseStudy(JSON.parse(fs.readFileSync(file, "utf8")), file);
        expect(sd.cells.map((c) => Object.values(c.labels)[0])).toEqual(["full", "LoRA r2", "SGD", "asked plain", "asked in context"]);
        const r = await runStudy(sd, { root, progress: false });
        const res = r.results;
        expect(res.cells).toHaveLength(5);
        for (const c of res.cells) {
            expect(c.treated.evals).toHaveLength(2);
            expect(c.control.evals).toHaveLength(2);
        }
        // Every cell trained on the same teacher and control data (only the students differ).
        expect(new Set(res.cells.flatMap((c) => c.treated.evals.map((e) => e.dataset))).size).toBe(1);
        expect(res.cells[1]!.treated.evals[0]!.lora).toMatch(/adapter\.gguf$/);
        expect(res.cells[2]!.recipe).toContain("SGD");
        expect(res.cells[3]!.recipe).toContain("asked without it");
        expect(res.cells[4]!.recipe).toContain("asked under it");
        // The same students, asked in two contexts: same models, different answers.
        expect(res.cells[4]!.treated.evals.map((e) => e.model)).toEqual(res.cells[3]!.treated.evals.map((e) => e.model));
        expect(res.cells[4]!.treated.evals[0]!.perQuestion).not.toEqual(res.cells[3]!.treated.evals[0]!.perQuestion);
        // A student trained under a system prompt is another student than the plain one.
        expect(res.cells[3]!.treated.evals[0]!.model).not.toBe(res.cells[0]!.treated.evals[0]!.model);
        const html = fs.readFileSync(r.files.html, "utf8");
        for (const l of ["full", "LoRA r2", "SGD", "asked in context"]) expect(html).toContain(`>${l}</text>`);
        expect(r.table).toContain("optimizer: SGD");

        const again = await runStudy(sd, { root, progress: false });
        expect(again.results.cells.map((c) => c.transfer.meanLogRatio)).toEqual(res.cells.map((c) => c.transfer.meanLogRatio));
        const events = fs.readFileSync(path.join(root, "runs", "smoke-study", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const students = events.slice(events.map((e) => e.type).lastIndexOf("run-start")).filter((e) => e.type === "student");
        expect(students).toHaveLength(5 * 2 * 2);
        expect(students.every((e) => e.cached)).toBe(true);
        // `sublab report` renders it again.
        fs.rmSync(r.files.md);
        expect(execFileSync("node", [bin, "report", r.files.json], { encoding: "utf8" })).toContain("smoke-study");
        expect(fs.existsSync(r.files.md)).toBe(true);
    });

    it("makes every combination in a product grid", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, {
            name: "smoke-product",
            grid: "product",
            axes: [
                { name: "rows", values: [{ label: "4", set: { student: { rows: 4 } } }, { label: "8", set: {} }] },
                { name: "epochs", values: [{ label: "1", set: {} }, { label: "2", set: { student: { epochs: 2 } } }] },
            ],
        });
        const sd = parseStudy(JSON.parse(fs.readFileSync(file, "utf8")), file);
        expect(sd.cells.map((c) => `${c.experiment.student.rows}x${c.experiment.student.epochs}`)).toEqual(["4x1", "4x2", "8x1", "8x2"]);
        expect(sd.cells[3]!.labels).toEqual({ rows: "8", epochs: "2" });
    });

    it("names the bad field of a study file", async () => {
        const [a, b] = await smokeBases();
        const bad = writeFiles(a, b, {
            name: "smoke-bad",
            axes: [
                { name: "x", values: [{ label: "one", set: { student: { optimizer: "adam" } } }, { label: "one" }] },
                { name: "y", values: [{ label: "ctx", eval: "training" }] },
            ],
        });
        let out = "";
        try {
            execFileSync("node", [bin, "study", bad], { cwd: root, encoding: "utf8", stdio: "pipe" });
        } catch (e) {
            out = String((e as { stderr: string }).stderr);
        }
        expect(out).toContain('axes[0].values[1].label: "one" names an earlier value too');
        const bad2 = writeFiles(a, b, { name: "smoke-bad2", axes: [{ name: "x", values: [{ label: "one", set: { student: { optimizer: "adam" } } }] }, { name: "y", values: [{ label: "ctx", eval: "training" }] }] });
        try {
            execFileSync("node", [bin, "study", bad2], { cwd: root, encoding: "utf8", stdio: "pipe" });
        } catch (e) {
            out = String((e as { stderr: string }).stderr);
        }
        expect(out).toContain('student.optimizer: expected one of "adamw", "sgd"');
        expect(out).toContain('y "ctx": eval "training" asks the questions under student.system');
    });
});
