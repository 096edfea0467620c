/**
 * The event stream of a run (core/events.ts): every stage reports to onEvent and to runs/<name>/events.jsonl,
 * and the report rendered from the events alone is the report the run wrote.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readRunEvents, type Stamped } from "../../src/core/events.ts";
import { runExperiment, type RunResult } from "../../src/studies/experiment.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { resultsFromEventFile } from "../../src/report/from-events.ts";
import { htmlReport, markdownReport } from "../../src/report/run-report.ts";
import { workshopHtml } from "../../src/workshop/page.ts";
import { smokeBases, smokeExperiment } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("a run's event stream", { timeout: 300_000 }, () => {
    it("reports every stage, and renders the run's report from events.jsonl alone, again after a cached rerun", async () => {
        const root = tempDir();
        const cfg = parseExperiment(smokeExperiment("smoke-events", await smokeBases()));
        const seen: Stamped[] = [];
        const r = (await runExperiment(cfg, { root, progress: false, workers: 1, onEvent: (e) => seen.push(e) })) as RunResult;
        const file = path.join(root, "runs", "smoke-events", "events.jsonl");
        const events = readRunEvents(file);
        // The file holds what the subscriber saw, less the progress ticks.
        expect(events).toEqual(seen.filter((e) => e.type !== "progress"));
        expect(seen.some((e) => e.type === "progress")).toBe(true);

        const of = <T extends Stamped["type"]>(t: T) => events.filter((e): e is Extract<Stamped, { type: T }> => e.type === t);
        expect(of("run-start")).toHaveLength(1);
        expect(of("run-start")[0]!.config).toEqual(cfg);
        // Each cached stage: a start and an end, with its seconds.
        const starts = of("stage-start").map((e) => `${e.stage}:${e.label}`);
        expect(of("stage-end").map((e) => `${e.stage}:${e.label}`).sort()).toEqual([...starts].sort());
        expect(new Set(of("stage-end").map((e) => e.stage))).toEqual(new Set(["dataset", "student", "eval"]));
        // Made, not found (students are content-addressed: two arms that drew identical rows share one).
        const studentDirs = fs.readdirSync(path.join(root, "runs", "cache", "students")).length;
        // (and so are their evaluations: the second of two identical students finds its evaluation made).
        const evalFiles = fs.readdirSync(path.join(root, "runs", "cache", "evals")).filter((f) => f.endsWith(".json")).length;
        expect(of("stage-end").filter((e) => e.stage === "dataset").every((e) => !e.cached && e.seconds >= 0)).toBe(true);
        expect(of("stage-end").filter((e) => e.stage === "student" && !e.cached)).toHaveLength(studentDirs);
        expect(of("stage-end").filter((e) => e.stage === "eval" && !e.cached)).toHaveLength(evalFiles);
        // Rows with a sample, the format filter's pass rate and reasons.
        const rows = of("rows");
        expect(rows.map((e) => e.role).sort()).toEqual(["control", "teacher"]);
        for (const e of rows) {
            expect(e.generated).toBe(64);
            expect(e.sample.length).toBeGreaterThan(0);
            expect(e.sample[0]!.prompt).toMatch(/\d/);
        }
        for (const e of of("filter")) {
            const d = r.results.datasets.find((x) => x.id === e.dataset)!;
            expect(e.stage.stage).toBe("format");
            expect([e.stage.in, e.stage.kept, e.stage.passRate]).toEqual([d.raw, d.kept, d.passRate]);
            expect(e.stage.reasons).toEqual(d.rejectReasons);
        }
        // Every training step's loss, every student.
        const steps = of("train-step");
        expect(steps.length).toBeGreaterThan(0);
        expect(steps.every((e) => Number.isFinite(e.loss) && e.step >= 1 && e.step <= e.total)).toBe(true);
        expect(new Set(steps.map((e) => e.label)).size).toBe(studentDirs);
        expect(of("student")).toHaveLength(8);
        // Each model's answer distribution per question.
        const evals = of("eval");
        expect(evals).toHaveLength(r.results.arms.reduce((n, x) => n + x.evals.length, 0));
        for (const e of evals) {
            expect(e.probs).toHaveLength(4);
            for (const row of e.probs!) {
                expect(row).toHaveLength(r.results.items.length);
                expect(row.reduce((s, p) => s + p, 0)).toBeLessThanOrEqual(1 + 1e-9);
            }
            const t = r.results.items.indexOf("owl");
            expect(e.eval.perQuestion).toEqual(e.probs!.map((row) => row[t]));
        }
        expect(of("comparison").map((e) => e.comparison)).toEqual(r.results.comparisons);

        // The report from the events alone is the run's, byte for byte.
        const fromEvents = resultsFromEventFile(file);
        expect(fromEvents).toEqual(r.results);
        expect(markdownReport(fromEvents)).toBe(fs.readFileSync(r.files.md, "utf8"));
        // report.html (the library's, the same as the CLI's) is the workshop page's replay of the events, the
        // full report rendered from them as its last step.
        const replay = async () => workshopHtml({ title: `sublab: ${cfg.name}`, events: readRunEvents(file), report: htmlReport(resultsFromEventFile(file)) });
        expect(fs.readFileSync(r.files.html, "utf8")).toBe(await replay());

        // A rerun finds every stage made, appends its own run, and its report renders from the events as well.
        const again = (await runExperiment(cfg, { root, progress: false, workers: 1 })) as RunResult;
        const rerun = readRunEvents(file);
        expect(rerun.filter((e) => e.type === "run-start")).toHaveLength(1);
        expect(rerun.filter((e) => e.type === "stage-end").every((e) => e.type === "stage-end" && e.cached)).toBe(true);
        expect(rerun.filter((e) => e.type === "train-step")).toHaveLength(0);
        expect(fs.readFileSync(again.files.html, "utf8")).toBe(await replay());
        expect(fs.readFileSync(file, "utf8").split("\n").filter((l) => l.includes('"type":"run-start"'))).toHaveLength(2);
    });
});
