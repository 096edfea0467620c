/**
 * One writer per dataset and run folder: two `sublab generate` processes started at once on one experiment
 * generate each dataset once (the second waits and reuses it) with no row twice; a lock left by a killed
 * process is taken over.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readJsonl } from "../../src/util/files.ts";
import { withLock } from "../../src/util/lock.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const CLI = path.resolve("bin/sublab.js");

function sublab(args: string[], cwd: string): Promise<{ code: number | null; err: string }> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, SUBLAB_THREADS: "1" } });
        let err = "";
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => resolve({ code, err }));
    });
}

describe("one writer per folder", { timeout: 300_000 }, () => {
    it("waits for a live holder, runs after it, and takes over a lock whose process is gone", async () => {
        const dir = tempDir();
        const order: string[] = [];
        let waited = false;
        const first = withLock(dir, async () => {
            order.push("first in");
            await new Promise((r) => setTimeout(r, 300));
            order.push("first out");
        });
        await new Promise((r) => setTimeout(r, 20));
        await withLock(dir, async () => void order.push("second"), { onWait: (h) => (waited = h.pid === process.pid), pollMs: 20 });
        await first;
        expect(order).toEqual(["first in", "first out", "second"]);
        expect(waited).toBe(true);
        // A lock file of a process that no longer exists.
        fs.writeFileSync(path.join(dir, ".lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), since: "earlier" }));
        let took = false;
        await withLock(dir, async () => void (took = true), { onWait: () => expect.fail("waited for a dead process") });
        expect(took).toBe(true);
        expect(fs.existsSync(path.join(dir, ".lock"))).toBe(false);
    });

    it("two processes on one experiment generate each dataset once, with no row twice", async () => {
        const [a, b] = await smokeBases();
        const root = tempDir();
        fs.writeFileSync(
            path.join(root, "exp.json"),
            JSON.stringify({ name: "lock", models: { base: a, cross: b }, teacher: { target: "owl" }, generate: { prompts: 200, maxTokens: 32 }, student: { rows: 6, seeds: 2 } }),
        );
        const [p, q] = await Promise.all([sublab(["generate", "exp.json"], root), sublab(["generate", "exp.json"], root)]);
        expect(p.code, p.err).toBe(0);
        expect(q.code, q.err).toBe(0);
        const made = (p.err + q.err).match(/generate \S+: 200 rows/g) ?? [];
        expect(made, p.err + q.err).toHaveLength(2); // the teacher's and the control's, once each
        expect(p.err + q.err).toMatch(/is making .* waiting for it/);
        const ids = fs.readdirSync(path.join(root, "datasets"));
        expect(ids).toHaveLength(2);
        for (const id of ids) {
            const rows = readJsonl<{ i: number }>(path.join(root, "datasets", id, "raw.jsonl"));
            expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
            expect(fs.existsSync(path.join(root, "datasets", id, ".lock"))).toBe(false);
        }
    });
});
