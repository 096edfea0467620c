/**
 * `sublab cache gc`: the outputs only a removed experiment file used are found, and only they; removing them
 * leaves every stage of the files kept cached; a walk that stops part of the way blocks --delete.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { markCacheUses } from "../../src/core/cache.ts";
import { partialWalks, planCacheGc, removeGarbage, studyFileKind } from "../../src/studies/cache-gc.ts";
import { runExperiment } from "../../src/studies/experiment.ts";
import { loadExperiment } from "../../src/studies/experiment-file.ts";
import { smokeBases, smokeExperiment } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const BIN = path.resolve("bin/sublab.js");

describe("sublab cache gc", { timeout: 300_000 }, () => {
    it("finds what only a removed file used, removes only that, and refuses to delete after a partial walk", async () => {
        const bases = await smokeBases();
        const root = tempDir();
        const file = (name: string, over: Record<string, unknown>) => {
            const f = path.join(root, `${name}.json`);
            const e = smokeExperiment(name, bases);
            fs.writeFileSync(f, JSON.stringify({ ...e, student: { ...(e.student as object), ...over } }));
            return f;
        };
        // Same teacher and data; b's students train at another rate, so they and their evaluations are b's alone.
        const [a, b] = [file("gc-a", {}), file("gc-b", { lr: 3e-3 })];
        const opts = { root, workers: 1, progress: false };
        for (const f of [a, b]) await runExperiment(loadExperiment(f), opts);

        const uses = async (f: string) => (await markCacheUses(() => runExperiment(loadExperiment(f), { ...opts, root: tempRootOver(root) }))).marked;
        const [usedA, usedB] = [await uses(a), await uses(b)];
        const onlyB = [...usedB].filter((p) => !usedA.has(p)).sort();
        expect(onlyB.length).toBeGreaterThan(0);
        expect(onlyB.every((p) => p.includes(`${path.sep}students${path.sep}`) || p.includes(`${path.sep}evals${path.sep}`))).toBe(true);

        // Both files kept: nothing is garbage. Only a kept: b's outputs are, and nothing else.
        expect((await planCacheGc([a, b], root)).garbage).toEqual([]);
        const plan = await planCacheGc([a], root);
        expect(plan.walks).toEqual([{ file: a, found: usedA.size }]);
        expect(plan.garbage.map((g) => fs.realpathSync(g.path)).sort()).toEqual(onlyB);

        removeGarbage(plan);
        const made: string[] = [];
        await runExperiment(loadExperiment(a), { ...opts, onEvent: (e) => e.type === "stage-end" && !e.cached && made.push(e.label) });
        expect(made).toEqual([]);

        // b now finds its teacher and data, then misses its first student: a partial walk, which blocks --delete.
        const walkB = (await planCacheGc([b], root)).walks[0]!;
        expect(walkB.found).toBeGreaterThan(0);
        expect(walkB.missing).toBeTruthy();
        expect(partialWalks({ walks: [walkB], outputs: [], garbage: [], busy: [] })).toHaveLength(1);
        const cli = spawnSync(process.execPath, [BIN, "cache", "gc", b, "--delete"], { cwd: root, encoding: "utf8" });
        expect(cli.status).not.toBe(0);
        expect(cli.stderr).toContain(`${b}: stopped at`);
        expect(cli.stderr).toContain("nothing removed");
        expect((await planCacheGc([a], root)).garbage).toEqual([]);
    });

    it("tells each kind of file by the field only it has", () => {
        expect(studyFileKind({ agents: 3 })).toBe("population");
        expect(studyFileKind({ generations: 2 })).toBe("chain");
        expect(studyFileKind({ axes: [] })).toBe("study");
        expect(studyFileKind({ arms: [] })).toBe("sweep");
        expect(studyFileKind({ models: {} })).toBe("experiment");
    });
});

/** A scratch root whose runs/cache and datasets are `root`'s (as the gc walks use), so the walk writes no run folder in `root`. */
function tempRootOver(root: string): string {
    const t = tempDir();
    fs.mkdirSync(path.join(t, "runs"));
    fs.symlinkSync(path.join(root, "runs", "cache"), path.join(t, "runs", "cache"), "dir");
    fs.symlinkSync(path.join(root, "datasets"), path.join(t, "datasets"), "dir");
    return t;
}
