/**
 * `sublab compare`: runs side by side. The table and the forest chart carry each run's three controlled
 * comparisons as the runs' results.json hold them; directories and files are both accepted; other results kinds,
 * missing files and runs without a treated arm are refused naming the file.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COMPARED, compareChart, compareRuns, compareTable, loadRun, writeCompareReport } from "../../src/report/compare-report.ts";
import { fmtLog, fmtP, fmtRatio } from "../../src/report/report-files.ts";
import { syntheticResults } from "../helpers/results.ts";
import { tempDir } from "../helpers/tiny.ts";

const dir = tempDir();
const write = (name: string, value: unknown) => {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, "results.json"), JSON.stringify(value));
    return path.join(dir, name);
};
const strong = write("strong", syntheticResults({ name: "strong", treatedScale: 3, crossScale: 1.5, controls: true, seed: 1 }));
const weak = write("weak", syntheticResults({ name: "weak", treatedScale: 1.2, controls: true, seed: 2 }));
// An older run with only the treated comparisons: its cross and in-context cells stay empty.
const bare = write("bare", syntheticResults({ name: "bare" }));

describe("sublab compare", () => {
    const r = compareRuns([strong, path.join(weak, "results.json"), bare], "9.9.9");

    it("reads a run's directory or its results.json, in the order given", () => {
        expect(r.runs.map((x) => x.experiment)).toEqual(["strong", "weak", "bare"]);
        expect(r.runs[0]!.source).toBe(path.join(strong, "results.json"));
        expect(r.runs[0]!.base).toBe("base.gguf");
        expect(r.runs[0]!.baseProb).toBeCloseTo(syntheticResults({ seed: 1, treatedScale: 3, crossScale: 1.5, controls: true }).arms[0]!.targetProb.mean, 12);
        expect(Object.keys(r.runs[2]!.comparisons)).toEqual([COMPARED[0]]);
    });

    it("the table has each comparison's ratio, log-ratio, p and rank as the results hold them", () => {
        const table = compareTable(r);
        const source = syntheticResults({ name: "strong", treatedScale: 3, crossScale: 1.5, controls: true, seed: 1 });
        const line = table.split("\n").find((l) => l.startsWith("strong "))!;
        for (const name of COMPARED) {
            const c = source.comparisons.find((x) => x.name === name)!;
            expect(line).toContain(
                `${c.verdict!.text}: x${fmtRatio(c.probRatio)}, ${fmtLog(c.meanLogRatio)} [${fmtLog(c.ci95[0])}, ${fmtLog(c.ci95[1])}], p ${fmtP(c.pValue)}, adj ${fmtP(c.verdict!.pAdjusted)}, rank ${c.targetRank}`,
            );
        }
        // The strong run's treated arm separates; the weak one's ratio is near its scale.
        expect(source.comparisons[0]!.probRatio).toBeGreaterThan(2);
        expect(table.split("\n").find((l) => l.startsWith("bare "))).toMatch(/ - +- *$/);
    });

    it("the chart draws one interval per comparison present, filled where p < 0.05", () => {
        const svg = compareChart(r);
        const dots = svg.match(/<circle class="dot" /g) ?? [];
        expect(dots.length).toBe(3 + 3 + 1);
        const filled = r.runs.flatMap((run) => Object.values(run.comparisons)).filter((c) => c!.pValue < 0.05).length;
        const hollow = (svg.match(/r="4" fill="#fff"/g) ?? []).length;
        expect(hollow).toBe(7 - filled);
        expect(svg).toContain(">x2<");
    });

    it("writes report.md, report.html and results.json that `sublab report` renders again", () => {
        const out = path.join(dir, "cmp");
        const files = writeCompareReport(r, out);
        expect(fs.readFileSync(files.md, "utf8")).toContain("| strong |");
        expect(fs.readFileSync(files.html, "utf8")).toContain("<svg");
        const again = spawnSync(process.execPath, ["bin/sublab.js", "report", files.json], { encoding: "utf8" });
        expect(again.status).toBe(0);
        expect(again.stdout).toContain("3 runs;");
    });

    it("refuses what is not a run, naming the file", () => {
        expect(() => loadRun(path.join(dir, "nothing"))).toThrow(`${path.join(dir, "nothing")}: no such file`);
        fs.mkdirSync(path.join(dir, "empty"), { recursive: true });
        expect(() => loadRun(path.join(dir, "empty"))).toThrow("no results.json in this directory");
        const sweep = write("sweep", { sweep: "s", arms: [] });
        expect(() => loadRun(sweep)).toThrow(`${path.join(sweep, "results.json")}: a sweep's results, not a run's`);
        const broken = path.join(dir, "broken.json");
        fs.writeFileSync(broken, "{ nope");
        expect(() => loadRun(broken)).toThrow(`${broken}: not JSON`);
        const noTreated = syntheticResults();
        noTreated.comparisons = noTreated.comparisons.filter((c) => c.name !== "treated vs control");
        expect(() => loadRun(write("no-treated", noTreated))).toThrow('has no "treated vs control" comparison');
        expect(() => compareRuns([], "0")).toThrow("give at least one run");
    });

    it("the CLI prints the table and exits 1 with the file named on a bad run", () => {
        const ok = spawnSync(process.execPath, ["bin/sublab.js", "compare", strong, weak, "--out", path.join(dir, "cli")], { encoding: "utf8" });
        expect(ok.status).toBe(0);
        expect(ok.stdout).toMatch(/^strong +base\.gguf +owl /m);
        expect(fs.existsSync(path.join(dir, "cli", "report.html"))).toBe(true);
        const bad = spawnSync(process.execPath, ["bin/sublab.js", "compare", strong, path.join(dir, "missing")], { encoding: "utf8" });
        expect(bad.status).toBe(1);
        expect(bad.stderr).toContain(`${path.join(dir, "missing")}: no such file`);
    });
});
