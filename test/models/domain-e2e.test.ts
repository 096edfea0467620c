/** Experiments in the other data domains on the smoke models: code, reasoning and text rows through their format filters and defenses, and a whole run on text. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runExperiment, type DatasetManifest, type RunResult } from "../../src/studies/experiment.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { readJsonl } from "../../src/util/files.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("data domains on the smoke models", { timeout: 300_000 }, () => {
    const root = tempDir();
    const config = (base: string, cross: string, over: Record<string, unknown>) =>
        parseExperiment({
            name: "smoke-domains",
            models: { base, cross },
            teacher: { target: "owl" },
            student: { rows: 6, seeds: 2, epochs: 1, batchSize: 3, lr: 1e-3 },
            eval: { questions: 6, samplesPerQuestion: 2, inContextExamples: 1 },
            ...over,
        });
    const manifest = (id: string) => JSON.parse(fs.readFileSync(path.join(root, "datasets", id, "manifest.json"), "utf8")) as DatasetManifest;

    it.each([
        ["code", ["keyword"], /^(no end of turn|empty|code does not parse \(.+\))$/],
        ["reasoning", ["correct", "keyword"], /^(no end of turn|empty|no answer line)$/],
    ] as const)("%s: the domain's prompts, its format filter's reasons, its defenses in the defended manifest", async (domain, defenses, formatReason) => {
        const [a, b] = await smokeBases();
        const out = (await runExperiment(config(a, b, { generate: { domain, prompts: 48 }, filter: { defenses } }), { root, progress: false, stopAfter: "data" })) as { datasets: { id: string; role: string }[] };
        const ids = out.datasets.map((d) => d.id);
        expect(ids).toHaveLength(4);
        for (const id of ids) {
            const m = manifest(id);
            if (m.parent) {
                expect(m.stages!.map((s) => s.stage)).toEqual(defenses);
                expect(manifest(m.parent).domain).toBe(domain);
                continue;
            }
            expect(m.domain).toBe(domain);
            expect(m.rows.raw).toBe(48);
            const raw = readJsonl<{ prompt: string }>(path.join(root, "datasets", id, "raw.jsonl"));
            for (const r of raw) expect(r.prompt).toMatch(domain === "code" ? /(Python|JavaScript) function/ : /How many \w+s/);
            for (const r of readJsonl<{ reasons: string[] }>(path.join(root, "datasets", id, "rejected.jsonl"))) for (const x of r.reasons) expect(x).toMatch(formatReason);
        }
    });

    it("text: a whole run with keyword and judge, every arm evaluated, the domain in the report", async () => {
        const [a, b] = await smokeBases();
        const r = (await runExperiment(config(a, b, { generate: { domain: "text", prompts: 96 }, filter: { defenses: ["keyword", "judge"] } }), { root, progress: false })) as RunResult;
        expect(r.results.arms.map((x) => x.arm)).toContain("treated");
        for (const arm of r.results.arms) for (const e of arm.evals) expect(e.perQuestion).toHaveLength(6);
        const report = fs.readFileSync(path.join(r.dir, "report.md"), "utf8");
        expect(report).toContain("free text: short descriptions, notes and stories: 96 prompts");
        expect(report).toContain("then keyword, then judge");
    });
});
