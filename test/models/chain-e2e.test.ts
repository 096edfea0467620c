/** `sublab chain` on the smoke models: lineages, replaced and accumulated data, soft labels from several writers, resumption, the report, errors. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { ModelEval } from "../../src/core/results.ts";
import { chainTrend, chainTrendVerdicts, parseChain, runChain } from "../../src/studies/chain.ts";
import { Rng } from "../../src/util/rng.ts";
import { foldAll, storyOf } from "../../src/workshop/state.ts";
import { chainGenerations, stepsFor } from "../../src/workshop/steps.ts";
import { readJsonl } from "../../src/util/files.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const bin = path.resolve("bin/sublab.js");

describe("sublab chain on the smoke models", { timeout: 400_000 }, () => {
    const root = tempDir();

    function writeFiles(base: string, cross: string, chain: Record<string, unknown>) {
        fs.writeFileSync(
            path.join(root, "exp.json"),
            JSON.stringify({
                name: "smoke-exp",
                models: { base, cross },
                teacher: { target: "owl" },
                generate: { prompts: 60, maxTokens: 24 },
                student: { method: "full", labels: "soft", rows: 8, seeds: 2, epochs: 1, batchSize: 4, lr: 1e-3 },
                eval: { questions: 4, samplesPerQuestion: 0, inContextExamples: 0 },
            }),
        );
        const file = path.join(root, "chain.json");
        fs.writeFileSync(file, JSON.stringify({ name: "smoke-chain", experiment: "exp.json", ...chain }));
        return file;
    }

    it("trains each lineage on its predecessor's data, accumulates rows with soft labels from each writer, resumes from the cache", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, { generations: 3, prompts: 80 });
        const ch = parseChain(JSON.parse(fs.readFileSync(file, "utf8")), file);
        expect(ch.data).toEqual(["replaced", "accumulated"]);
        const r = await runChain(ch, { root, progress: false });
        const res = r.results;
        expect(res.generations.map((g) => `${g.mode}${g.generation}:${g.rows}`)).toEqual(["replaced1:8", "replaced2:8", "replaced3:8", "accumulated1:8", "accumulated2:16", "accumulated3:24"]);
        for (const g of res.generations) {
            expect(g.treated.evals).toHaveLength(2);
            expect(g.control.evals).toHaveLength(2);
            expect(g.transfer.studentsA).toBe(2);
        }
        const gen = (mode: string, k: number) => res.generations.find((g) => g.mode === mode && g.generation === k)!;
        // Generation 1 is shared by both modes; later generations differ (different data, different writers).
        expect(gen("accumulated", 1).treated.evals.map((e) => e.model)).toEqual(gen("replaced", 1).treated.evals.map((e) => e.model));
        expect(gen("accumulated", 2).treated.evals[0]!.model).not.toBe(gen("replaced", 2).treated.evals[0]!.model);
        // Generation 2's data was written by generation 1's students (one dataset per lineage), treated and control on the same prompts.
        const d2 = gen("replaced", 2).datasets;
        expect(new Set(d2.treated).size).toBe(2);
        const t = JSON.parse(fs.readFileSync(path.join(root, "datasets", d2.treated[0]!, "manifest.json"), "utf8"));
        const k = JSON.parse(fs.readFileSync(path.join(root, "datasets", d2.control[0]!, "manifest.json"), "utf8"));
        expect(t.model.path).toBe(gen("replaced", 1).treated.evals[0]!.model);
        expect(k.model.path).toBe(gen("replaced", 1).control.evals[0]!.model);
        const prompts = (id: string) => readJsonl<{ prompt: string }>(path.join(root, "datasets", id, "raw.jsonl")).map((x) => x.prompt);
        expect(prompts(d2.treated[0]!)).toEqual(prompts(d2.control[0]!));
        expect(prompts(d2.treated[0]!)).toHaveLength(80);
        // An accumulated student trained on all its lineage's rows: its done.json says 24 at generation 3.
        const done = JSON.parse(fs.readFileSync(path.join(path.dirname(gen("accumulated", 3).treated.evals[0]!.model), "done.json"), "utf8"));
        expect(done.rows).toBe(24);
        expect(res.trends.map((x) => x.verdict)).toEqual(["can't tell", "can't tell"]);
        const html = fs.readFileSync(r.files.html, "utf8");
        expect(html).toContain("<svg");
        // The transfer chart (two modes and the no-transfer line) and P(target) (treated and control of each mode).
        expect(html.match(/<svg /g)).toHaveLength(2);
        expect(html.match(/<path d=/g)).toHaveLength(3 + 4);
        expect(r.table).toContain("accumulated");

        // Started again: every stage is found made, nothing trains twice.
        const again = await runChain(ch, { root, progress: false });
        expect(again.results.generations.map((g) => g.transfer.meanLogRatio)).toEqual(res.generations.map((g) => g.transfer.meanLogRatio));
        const events = fs.readFileSync(path.join(root, "runs", "smoke-chain", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const lastStart = events.map((e) => e.type).lastIndexOf("run-start");
        const students = events.slice(lastStart).filter((e) => e.type === "student");
        expect(students.length).toBe(2 * 2 + 2 * 2 * 2 * 2);
        expect(students.every((e) => e.cached)).toBe(true);

        // The workshop page's view of the chain, folded from the same events: each generation's mean P(target).
        const view = foldAll(events.slice(lastStart));
        expect(storyOf(view)).toBe("chain");
        expect(stepsFor(view).map((x) => x.id)).toEqual(["teacher", "numbers", "filter", "students", "generations"]);
        const gens = chainGenerations(view);
        expect(gens.map((g) => `${g.mode}/${g.generation}`).sort()).toEqual(res.generations.map((g) => `${g.mode}/${g.generation}`).sort());
        for (const g of res.generations) {
            const v = gens.find((x) => x.mode === g.mode && x.generation === g.generation)!;
            expect(v.treated).toBeCloseTo(g.treated.targetProb.mean, 12);
            expect(v.control).toBeCloseTo(g.control.targetProb.mean, 12);
        }
        const page = stepsFor(view).at(-1)!.render(view, { picked: new Set(), revealed: false });
        expect(page.match(/data-testid="generation-row"/g)).toHaveLength(res.generations.length);
    });

    it("names the bad field of a chain file, and refuses a chain whose lineages cannot pair enough rows", async () => {
        const [a, b] = await smokeBases();
        const bad = writeFiles(a, b, { generations: 0, data: ["replaced", "kept"] });
        let out = "";
        try {
            execFileSync("node", [bin, "chain", bad], { cwd: root, encoding: "utf8", stdio: "pipe" });
        } catch (e) {
            out = String((e as { stderr: string }).stderr);
        }
        expect(out).toContain("generations: expected an integer from 1 to 20, got 0");
        expect(out).toContain('data[1]: expected one of');
        const few = writeFiles(a, b, { name: "smoke-chain-few", generations: 2, data: ["replaced"], prompts: 3 });
        await expect(runChain(parseChain(JSON.parse(fs.readFileSync(few, "utf8")), few), { root, progress: false })).rejects.toThrow(/generation 2, lineage 1: \d+ prompts have a kept row in both .* raise the chain's prompts \(3\)/);
    });
});

describe("chain trends", () => {
    const ev = (p: number): ModelEval => ({ seed: 0, model: "m", lora: null, dataset: null, perQuestion: [p, p], targetProb: p, sampled: { hits: 0, n: 0 }, distribution: [] });
    const gen = (treated: number[], control: number[]) => ({ treated: treated.map(ev), control: control.map(ev) });
    const rng = () => new Rng(1);

    it("says fades when every lineage's transfer fell, grows when every one rose, holds only inside the margin, and can't tell with 5 lineages", () => {
        const trend = (a: ReturnType<typeof gen>, b: ReturnType<typeof gen>) => {
            const t = chainTrend("replaced", a, b, 1e-6, rng());
            chainTrendVerdicts([t]);
            return t;
        };
        const flat = (p: number, n = 7) => Array.from({ length: n }, () => p);
        const first = gen(flat(0.2), flat(0.1));
        const lower = gen([0.15, 0.14, 0.13, 0.12, 0.11, 0.105, 0.1], flat(0.1));
        const fades = trend(first, lower);
        expect(fades.verdict).toBe("fades");
        // Seven lineages, all down: the exact sign-flip test at its floor, 1/128 one-sided, 1/64 two-sided.
        expect(fades.pDown).toBeCloseTo(1 / 128);
        expect(fades.pValue).toBeCloseTo(1 / 64);
        expect(fades.first).toBeCloseTo(Math.log(2));
        expect(fades.change).toBeLessThan(0);
        expect(fades.test!.text).toBe("fades");
        expect(trend(lower, first).verdict).toBe("grows");
        // Every lineage within 1% of where it started: the TOST shows no change larger than x1.1.
        const same = gen([0.201, 0.199, 0.2, 0.2005, 0.1995, 0.2, 0.201], flat(0.1));
        expect(trend(first, same).verdict).toBe("holds");
        // Three lineages up, four down, by about x1.25: neither a direction nor a change inside the margin.
        const mixed = gen([0.25, 0.25, 0.24, 0.16, 0.15, 0.16, 0.15], flat(0.1));
        expect(trend(first, mixed).verdict).toBe("can't tell");
        // Five lineages, all down: 2^(1-5) = 1/16 is the smallest two-sided p, above 0.05.
        const five = (g: ReturnType<typeof gen>) => ({ treated: g.treated.slice(0, 5), control: g.control.slice(0, 5) });
        expect(trend(five(first), five(lower)).verdict).toBe("can't tell");
    });
});
