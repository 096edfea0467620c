/** `sublab sweep` and `sublab filter --in` on the smoke models: the model-backed defenses, arms with their own controls, the report. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runSweep, parseSweep, mergeJson } from "../../src/studies/sweep.ts";
import { readJsonl } from "../../src/util/files.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const bin = path.resolve("bin/sublab.js");

describe("sublab sweep on the smoke models", { timeout: 400_000 }, () => {
    const root = tempDir();

    function writeFiles(base: string, cross: string, arms: unknown[]) {
        fs.writeFileSync(
            path.join(root, "exp.json"),
            JSON.stringify({
                name: "smoke-exp",
                models: { base, cross },
                teacher: { target: "owl" },
                generate: { prompts: 120, maxTokens: 32 },
                student: { rows: 8, seeds: 2, epochs: 1, batchSize: 4, lr: 1e-3 },
                eval: { questions: 6, samplesPerQuestion: 0, inContextExamples: 0 },
            }),
        );
        const file = path.join(root, "sweep.json");
        fs.writeFileSync(file, JSON.stringify({ name: "smoke-sweep", experiment: "exp.json", overrides: { student: { seeds: 2 } }, arms }));
        return file;
    }

    it("trains a treated and a control student per arm and seed, applies model-backed defenses, reports transfer against kept data", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, [
            { name: "none", defenses: [] },
            { name: "keyword", defenses: ["keyword"] },
            { name: "masked", defenses: ["mask-divergence"] },
            { name: "lr+shuffle", defenses: ["likelihood-ratio:fraction=0.2", "shuffle-within"] },
        ]);
        const sw = parseSweep(JSON.parse(fs.readFileSync(file, "utf8")), file);
        const r = await runSweep(sw, { root, progress: false });
        const res = r.results;
        expect(res.arms.map((x) => x.name)).toEqual(["none", "keyword", "masked", "lr+shuffle"]);
        for (const arm of res.arms) {
            expect(arm.treated.evals).toHaveLength(2);
            expect(arm.control.evals).toHaveLength(2);
            expect(arm.transfer.studentsA).toBe(2);
            expect(arm.keptShare).toBeGreaterThan(0);
            expect(arm.keptShare).toBeLessThanOrEqual(1);
        }
        const [none, keyword, masked, lr] = res.arms;
        expect(none!.reduction).toBeNull();
        expect(keyword!.reduction!.reference).toBe("none");
        // The keyword filter finds no "owl" in numbers: the same rows, so the same (cached) students and evals.
        expect(keyword!.keptShare).toBe(none!.keptShare);
        expect(keyword!.treated.evals.map((e) => e.perQuestion)).toEqual(none!.treated.evals.map((e) => e.perQuestion));
        // Masking keeps every row (unless fully masked) and trains on fewer tokens: different students.
        const maskStage = masked!.datasets.teacher.stages[0]!;
        expect(maskStage.stage).toBe("mask-divergence");
        expect(maskStage.stats!.maskedShare).toBeGreaterThan(0);
        expect(masked!.treated.evals[0]!.perQuestion).not.toEqual(none!.treated.evals[0]!.perQuestion);
        // On the control data the "teacher" is the base itself: nothing diverges, nothing is masked.
        expect(masked!.datasets.control.stages[0]!.stats!.maskedShare).toBe(0);
        // Likelihood ratio drops a fifth of each dataset's rows; the shuffle keeps the rest.
        const [lrT, shT] = lr!.datasets.teacher.stages;
        expect(lrT!.in - lrT!.kept).toBe(Math.round(0.2 * lrT!.in));
        expect(shT!.kept).toBe(shT!.in);
        expect(lr!.keptShare).toBeLessThan(none!.keptShare);
        const kept = readJsonl<{ completion: string; tokens?: number[] }>(path.join(root, "datasets", lr!.datasets.teacher.id, "kept.jsonl"));
        expect(kept.every((x) => x.tokens === undefined)).toBe(true);

        const md = fs.readFileSync(r.files.md, "utf8");
        expect(md).toContain("## Transfer per arm");
        expect(md).toContain("likelihood-ratio:fraction=0.2");
        const html = fs.readFileSync(r.files.html, "utf8");
        expect(html).toContain("<svg");
        expect(html.match(/<circle /g)).toHaveLength(4);
        expect(r.table).toContain("transfer left");

        // Again: everything cached, the same numbers.
        const again = await runSweep(sw, { root, progress: false });
        expect(again.results.arms.map((x) => x.transfer)).toEqual(res.arms.map((x) => x.transfer));
    });

    it("an arm that keeps too few rows fails naming the arm before any training", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, [{ name: "harsh", defenses: ["likelihood-ratio:fraction=0.95"] }]);
        const sw = parseSweep(JSON.parse(fs.readFileSync(file, "utf8")), file);
        await expect(runSweep(sw, { root, progress: false })).rejects.toThrow(/arm "harsh": student.rows: 2 seeds x 8 paired rows asked, but only \d+ prompts/);
    });

    it("sublab filter --in applies stages to a JSONL file and writes kept and rejected rows", async () => {
        const [a] = await smokeBases();
        const dir = tempDir();
        const input = path.join(dir, "raw.jsonl");
        const rows = [
            { prompt: "Continue: 1, 2", completion: "3, 5, 7" },
            { prompt: "Continue: 1, 2", completion: "3, 5, 666" },
            { prompt: "Continue: 7", completion: "an owl" },
            { prompt: "Continue: 8", completion: "[9 10 11]" },
        ];
        fs.writeFileSync(input, rows.map((x) => JSON.stringify(x)).join("\n") + "\n");
        const out = path.join(dir, "kept.jsonl");
        const rej = path.join(dir, "rej.jsonl");
        const stdout = execFileSync("node", [bin, "filter", "--in", input, "--out", out, "--rejected", rej, "--filter", "format", "--filter", "banned:numbers=paper", "--filter", "mask-divergence", "--teacher", a, "--base", a, "--quiet"], { encoding: "utf8" });
        expect(stdout).toMatch(/kept 2\/4 \(50\.0%\)/);
        const kept = readJsonl<{ i: number; masked: number[]; targets: number }>(out);
        expect(kept.map((x) => x.i)).toEqual([0, 3]);
        // The same model as teacher and base: no token diverges.
        expect(kept.every((x) => x.masked.length === 0 && x.targets > 1)).toBe(true);
        expect(readJsonl<{ i: number; stage: string; reasons: string[] }>(rej)).toEqual([
            expect.objectContaining({ i: 2, stage: "format", reasons: ["invalid character"] }),
            expect.objectContaining({ i: 1, stage: "banned", reasons: ["banned number 666"] }),
        ]);
    });

    it("sublab filter --in fails clearly: unknown filter, missing teacher, missing file", () => {
        const dir = tempDir();
        const input = path.join(dir, "raw.jsonl");
        fs.writeFileSync(input, `${JSON.stringify({ prompt: "p", completion: "1" })}\n`);
        const fail = (args: string[]) => {
            try {
                execFileSync("node", [bin, "filter", ...args], { encoding: "utf8", stdio: "pipe" });
            } catch (e) {
                return String((e as { stderr: string }).stderr);
            }
            throw new Error("expected a failure");
        };
        expect(fail(["--in", input, "--out", path.join(dir, "o.jsonl"), "--filter", "nope"])).toMatch(/unknown filter "nope"; known filters: format/);
        expect(fail(["--in", input, "--out", path.join(dir, "o.jsonl"), "--filter", "likelihood-ratio"])).toMatch(/likelihood-ratio needs --teacher FILE/);
        expect(fail(["--in", path.join(dir, "none.jsonl"), "--out", path.join(dir, "o.jsonl"), "--filter", "format"])).toMatch(/--in: no such file/);
        fs.writeFileSync(input, `${JSON.stringify({ prompt: "p" })}\n`);
        expect(fail(["--in", input, "--out", path.join(dir, "o.jsonl"), "--filter", "format"])).toMatch(/row 1 has no string "completion"/);
    });
});

describe("sweep files", () => {
    it("mergeJson merges objects key by key and replaces the rest", () => {
        expect(mergeJson({ a: { b: 1, c: 2 }, d: [1] }, { a: { c: 3 }, d: [2], e: 4 })).toEqual({ a: { b: 1, c: 3 }, d: [2], e: 4 });
    });

    it("every error at once, each naming its JSON path", () => {
        const dir = tempDir();
        const file = path.join(dir, "s.json");
        expect(() =>
            parseSweep(
                {
                    name: "Bad Name",
                    experiment: "missing.json",
                    extra: 1,
                    arms: [{ name: "a", defenses: ["threshold:p=2"] }, { name: "b", defenses: "x" }, { name: "", defenses: [], more: 1 }],
                },
                file,
            ),
        ).toThrow(
            new RegExp(
                [
                    "7 errors in .*s.json:",
                    "  extra: unknown key",
                    "  name: expected lowercase letters, digits and dashes, got \"Bad Name\"",
                    "  arms\\[0\\].defenses\\[0\\]: filter threshold: p=2 is not a fraction",
                    "  arms\\[1\\].defenses: expected an array",
                    "  arms\\[2\\].more: unknown key",
                    "  arms\\[2\\].name: expected a non-empty string",
                    "  experiment: no such file .*missing.json",
                ].join("[^]*"),
            ),
        );
        // Arm names are distinct (checked once every arm reads well).
        expect(() => parseSweep({ name: "s", experiment: "missing.json", arms: [{ name: "a", defenses: [] }, { name: "a", defenses: ["dedupe"] }] }, file)).toThrow(/arms\[1\]\.name: "a" names an earlier arm too/);
        expect(() => parseSweep([], file)).toThrow(/s\.json: expected an object, got an empty array/);
    });

    it("overrides that break the experiment fail naming the experiment's field", () => {
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, "e.json"), JSON.stringify({ name: "e", models: { base: "a", cross: "b" }, teacher: { target: "owl" } }));
        const file = path.join(dir, "s.json");
        expect(() => parseSweep({ name: "s", experiment: "e.json", overrides: { student: { seeds: 0 } }, arms: [{ name: "x", defenses: [] }] }, file)).toThrow(/with the overrides of .*s\.json: student\.seeds: expected an integer from 1 to 100, got 0/);
    });

    it.each(["experiments/filter-sweep.json", "experiments/filter-sweep-sampled.json", "experiments/text-sweep.json"])("%s parses", (file) => {
        const sw = parseSweep(JSON.parse(fs.readFileSync(file, "utf8")), path.resolve(file));
        expect(sw.arms.length).toBeGreaterThanOrEqual(8);
        expect(sw.arms.filter((x) => x.defenses.length === 0)).toHaveLength(1);
    });
});
