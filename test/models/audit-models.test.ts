/** `sublab audit --data` (which persona explains a dataset) and `--answers` (answer-distribution shifts) on real models. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { auditData } from "../../src/studies/data-audit.ts";
import { answerCosines } from "../../src/studies/provenance-audit.ts";
import { evalQuestions } from "../../src/prompts/items.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const dir = tempDir();

describe("sublab audit on the smoke models", { timeout: 300_000 }, () => {
    it("--data: ranks first the persona that explains the data, against the base's own writing, with a max-statistic p", async () => {
        // The smoke models hardly follow a persona (owl's gain 0.012 nats per token, p 0.42): the shipped small base does.
        const a = "models/sublab-small-s1.gguf";
        // Data with an unmistakable trait: favourite-animal questions answered "owl".
        const rows = evalQuestions("animal", 80).map((q) => ({ prompt: q, completion: "owl" }));
        const r = await auditData({ base: a, rows, category: "animal", candidates: ["cat", "owl", "dog", "whale"], maxRows: 60, maxTokens: 4, seed: 2, iters: 500 });
        expect(r.rows).toBe(60);
        expect(r.personas.map((p) => p.item).sort()).toEqual(["cat", "dog", "owl", "whale"]);
        expect(r.personas.map((p) => p.gain)).toEqual([...r.personas.map((p) => p.gain)].sort((x, y) => y - x));
        for (const p of r.personas) {
            expect(p.ci95[0]).toBeLessThanOrEqual(p.gain);
            expect(p.ci95[1]).toBeGreaterThanOrEqual(p.gain);
        }
        expect(r.top).toBe("owl");
        expect(r.pValue).toBeGreaterThan(0);
        expect(r.pValue).toBeLessThan(0.05);
        // The same call gives the same answer (rows, reference and permutations come from the seed).
        const again = await auditData({ base: a, rows, category: "animal", candidates: ["cat", "owl", "dog", "whale"], maxRows: 60, maxTokens: 4, seed: 2, iters: 500 });
        expect(again.personas).toEqual(r.personas);
        await expect(auditData({ base: a, rows, category: "animal", candidates: ["owl", "unicorn"] })).rejects.toThrow(/"unicorn" is not a animal item/);
    });

    it("--data names a bad JSONL line; --answers prints the answer-shift cosine beside the weights'", async () => {
        const [a] = await smokeBases();
        const bad = path.join(dir, "bad.jsonl");
        fs.writeFileSync(bad, `${JSON.stringify({ prompt: "1, 2", completion: "3" })}\n${JSON.stringify({ prompt: "x" })}\n`);
        const run = (...args: string[]) => spawnSync(process.execPath, ["bin/sublab.js", "audit", ...args], { encoding: "utf8" });
        const r = run("--base", a, "--data", bad);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`${bad}:2: expected an object with string fields "prompt" and "completion"`);
        const both = run("--base", a, "--data", bad, "--student", a, "--teacher", a);
        expect(both.stderr).toContain("give one or the other");
        // A student that is the base itself: no weight change, no answer shift, both cosines 0.
        const shifts = await answerCosines(a, a, [a], "animal", 4);
        expect(shifts.student.shift.every((x) => x === 0)).toBe(true);
        expect(shifts.teachers[0]!.cosine).toBe(0);
        const ans = run("--base", a, "--student", a, "--teacher", a, "--answers", "--questions", "4");
        expect(ans.status, ans.stderr).toBe(0);
        expect(ans.stdout).toMatch(/answers cos {2}0\.000/);
    });
});
