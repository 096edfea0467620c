/**
 * The architecture src/ keeps: folders in layers (cli -> studies, forge, export -> workshop -> stages (teacher,
 * data, students, evaluate, stats, report) -> core -> engine, prompts -> util), no import cycle between folders,
 * and no file over 400 lines but the GGUF codec and the results types. The checks run on src/ and, to show they
 * can fail, on copies of it with a cycle added.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { folderCycles, folderEdges, layerViolations, sourceFiles } from "../helpers/imports.ts";

const SRC = path.join(import.meta.dirname, "..", "..", "src");
const files = sourceFiles(SRC);

describe("architecture", () => {
    it("has no import cycle between folders", () => {
        expect(folderCycles(folderEdges(files))).toEqual([]);
    });

    it("imports only down the layers", () => {
        expect(layerViolations(folderEdges(files))).toEqual([]);
    });

    it("finds a cycle and an upward import when one is added", () => {
        const withCycle = new Map(files);
        withCycle.set("core/added.ts", 'import { runExperiment } from "../studies/experiment.ts";\nexport const x = runExperiment;\n');
        const cycles = folderCycles(folderEdges(withCycle));
        expect(cycles.length).toBeGreaterThan(0);
        expect(cycles.join("\n")).toMatch(/core -> studies \(core\/added\.ts\)/);
        expect(layerViolations(folderEdges(withCycle))).toContain("core -> studies goes up the layers (core/added.ts)");
        // A type-only import counts too.
        const typeCycle = new Map(files);
        typeCycle.set("util/added.ts", 'import type { Results } from "../core/results.ts";\nexport type R = Results;\n');
        expect(folderCycles(folderEdges(typeCycle)).join("\n")).toMatch(/util -> core \(util\/added\.ts\)/);
    });

    it("keeps every file of src/ at 400 lines or fewer, but the GGUF codec and the results types (declarations only)", () => {
        const declarationsOnly = (text: string) => !/^export (?:async )?(?:function|const|let|class)\b/m.test(text);
        expect(declarationsOnly(files.get("core/results.ts")!)).toBe(true);
        const long = [...files]
            .filter(([f, text]) => f !== "engine/gguf.ts" && !(f === "core/results.ts" && declarationsOnly(text)) && text.split("\n").length - 1 > 400)
            .map(([f, text]) => `${f}: ${text.split("\n").length - 1} lines`);
        expect(long).toEqual([]);
    });
});
