import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { escapeHtml, fmtP } from "../../src/report/report-files.ts";
import { htmlReport, markdownReport, terminalTable, writeReport } from "../../src/report/run-report.ts";
import { ITEMS, syntheticResults } from "../helpers/results.ts";
import { reviveIntervals } from "../../src/core/verdicts.ts";

const results = syntheticResults();

describe("terminalTable", () => {
    const table = terminalTable(results);

    it("has one row per arm and one line per comparison, with the p-values", () => {
        for (const a of results.arms) expect(table).toMatch(new RegExp(`^${a.arm}\\s`, "m"));
        for (const c of results.comparisons) {
            const line = table.split("\n").find((l) => l.startsWith(`${c.name}:`));
            expect(line).toBeDefined();
            expect(line).toContain(`${c.name}: ${c.verdict!.text.toUpperCase()}: `);
            expect(line).toContain(`p ${fmtP(c.pValue)}, adj ${fmtP(c.verdict!.pAdjusted)}`);
            expect(line).toContain(`target rank ${c.targetRank}/5`);
            expect(line).toMatch(/x\d+\.\d+ P\(target\), mean log-ratio -?\d+\.\d\d \[(-?\d+\.\d\d|-inf), (-?\d+\.\d\d|\+inf)\]/);
        }
    });

    it("names the primary test and its floor: students for two trained arms, seeds against the single base eval", () => {
        const line = (name: string) => table.split("\n").find((l) => l.startsWith(`${name}:`))!;
        const tc = results.comparisons.find((c) => c.name === "treated vs control")!;
        expect(tc.test).toBe("students");
        // Two students per arm: C(4, 2) = 6 relabelings, two-sided floor 2/6.
        expect(line("treated vs control")).toContain(`permutation over 2+2 students, floor 0.33`);
        const tb = results.comparisons.find((c) => c.name === "treated vs base")!;
        expect(tb.test).toBe("seeds");
        expect(line("treated vs base")).toContain(`sign-flip over 2 seeds, floor 0.5`);
        // Two students per arm cannot pass any correction: the design check says so, with the count that would.
        expect(table).not.toContain("MOVED TOWARD");
    });

    it("prints probabilities with 4 significant digits and the ratio to control", () => {
        const treated = results.arms.find((a) => a.arm === "treated")!;
        expect(table).toContain(treated.targetProb.mean.toPrecision(4));
        expect(table).toMatch(/^control\s.*x1\.00/m);
        // Top-3 of the base distribution: dog, cat, fox.
        expect(table).toMatch(/^base\s.*dog [\d.]+, cat [\d.]+, fox [\d.]+/m);
    });
});

describe("markdownReport", () => {
    const md = markdownReport(results);

    it("has the config summary, the datasets, arms and comparisons tables and the links", () => {
        expect(md).toMatch(/^# /m);
        expect(md).toContain("## What was run");
        expect(md).toContain("LoRA rank 8 alpha 16 on q,v");
        expect(md).toContain("| dataset | role | raw | kept | pass rate | top reject reasons |");
        expect(md).toContain("| treated-data | treated | 1000 | 620 | 62.0% | invalid character (200), too many numbers (150), empty (30) |");
        for (const a of results.arms) expect(md).toMatch(new RegExp(`^\\| ${a.arm} \\|`, "m"));
        for (const c of results.comparisons) expect(md).toMatch(new RegExp(`^\\| ${c.name} \\|`, "m"));
        expect(md).toContain(
            "| comparison | P ratio | mean log-ratio | 95% CI | verdict | p | p adj (Holm) | p equivalence adj | test | floor | p (questions independent) | target rank |",
        );
        const tc = results.comparisons.find((c) => c.name === "treated vs control")!;
        expect(md).toContain(
            `| ${tc.verdict!.text} | ${fmtP(tc.pValue)} | ${fmtP(tc.verdict!.pAdjusted)} | ${fmtP(tc.verdict!.pEquivalenceAdjusted)} | students, 2+2 | 0.33 | ${fmtP(tc.pValueQuestions)} |`,
        );
        expect(md).toContain("| seeds, 2 vs 1 eval | 0.5 |");
        expect(md).toContain("## How to read this");
        expect(md).toMatch(/each trained student as one observation/);
        expect(md).toMatch(/optimistic/);
        expect(md).toMatch(/floor/);
        expect(md).toContain("(report.html)");
        expect(md).toContain("(results.json)");
    });

    it("escapes HTML-ish text and keeps table rows intact", () => {
        expect(md).toContain("owl-small &lt;&amp;&gt;");
        expect(md).not.toContain("<&>");
        const armHeader = md.split("\n").find((l) => l.startsWith("| arm |"))!;
        const cols = armHeader.split(" | ").length;
        for (const line of md.split("\n").filter((l) => /^\| (base|control|treated) \|/.test(l))) {
            expect(line.split(" | ").length).toBe(cols);
        }
    });
});

describe("htmlReport", () => {
    const html = htmlReport(results);

    it("is one self-contained document with two SVG charts", () => {
        expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
        expect(html.trimEnd().endsWith("</html>")).toBe(true);
        expect(html.match(/<svg\b/g)?.length).toBe(2);
        expect(html.match(/<\/svg>/g)?.length).toBe(2);
        expect(html).toContain("<style>");
    });

    it("references nothing outside itself", () => {
        expect(html).not.toMatch(/https?:/i);
        expect(html).not.toMatch(/<script\b/i);
        expect(html).not.toMatch(/<link\b/i);
        expect(html).not.toMatch(/\bsrc\s*=/i);
        expect(html).not.toMatch(/url\(/i);
        expect(html).not.toMatch(/@import/i);
    });

    it("escapes every piece of text", () => {
        expect(html).not.toContain("<&>");
        expect(html).toContain("&lt;&amp;&gt; bird");
        expect(html).toContain("owl-small &lt;&amp;&gt;");
        expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        // No tag other than the ones the renderer writes.
        const tags = new Set([...html.matchAll(/<\/?([a-zA-Z!][\w-]*)/g)].map((m) => m[1].toLowerCase()));
        const allowed = [
            "!doctype",
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "h1",
            "h2",
            "p",
            "a",
            "dl",
            "dt",
            "dd",
            "pre",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "svg",
            "text",
            "line",
            "circle",
            "rect",
        ];
        for (const t of tags) expect(allowed).toContain(t);
    });

    it("has the tables and highlights the target in the distribution chart", () => {
        for (const a of results.arms) expect(html).toContain(`<td>${a.arm}</td>`);
        for (const c of results.comparisons) expect(html).toContain(`<td>${c.name}</td>`);
        expect(html).toMatch(/class="tick target">owl</);
        expect(html).toMatch(/class="bar hl"/);
        // Log-axis tick labels on the P(target) chart.
        expect(html).toMatch(/class="tick">0\.1<\/text>/);
    });
});

describe("writeReport", () => {
    const dir = mkdtempSync(join(tmpdir(), "sublab-report-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("writes the three files, no temporaries, and results.json parses back equal", () => {
        const out = writeReport(results, join(dir, "run"));
        expect(out).toEqual({ json: join(dir, "run", "results.json"), md: join(dir, "run", "report.md"), html: join(dir, "run", "report.html") });
        expect(readdirSync(join(dir, "run")).sort()).toEqual(["report.html", "report.md", "results.json"]);
        expect(JSON.parse(readFileSync(out.json, "utf8"), reviveIntervals)).toEqual(results);
        expect(readFileSync(out.md, "utf8")).toBe(markdownReport(results));
        expect(readFileSync(out.html, "utf8")).toBe(htmlReport(results));
        // Writing again replaces the files in place.
        writeReport(results, join(dir, "run"));
        expect(readdirSync(join(dir, "run"))).toHaveLength(3);
    });
});
