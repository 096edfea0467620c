import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cachedPath, cachedStage, readJsonIf, sealChanges, SEAL_FILE } from "../../src/core/cache.ts";

const BIN = path.join(import.meta.dirname, "..", "..", "bin", "sublab.js");

describe("cachedPath", () => {
    it("finds a file recorded by another checkout under this root's runs/cache, and says null when it is nowhere", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-cache-"));
        const here = path.join(root, "runs", "cache", "teachers", "abc", "teacher.gguf");
        fs.mkdirSync(path.dirname(here), { recursive: true });
        fs.writeFileSync(here, "x");
        expect(cachedPath(here, root)).toBe(here);
        expect(cachedPath("/elsewhere/runs/cache/teachers/abc/teacher.gguf", root)).toBe(here);
        expect(cachedPath("/elsewhere/runs/cache/teachers/zzz/teacher.gguf", root)).toBeNull();
        expect(cachedPath("/elsewhere/models/teacher.gguf", root)).toBeNull();
    });
});

describe("sealed stage outputs", () => {
    it("uses a found output only while its files are as they were made; a changed one is named and made again", async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-seal-"));
        const dir = path.join(root, "runs", "cache", "students", "k1");
        const file = path.join(dir, "model.gguf");
        const logs: string[] = [];
        let makes = 0;
        const stage = () =>
            cachedStage({
                dir,
                what: "a student",
                log: (m) => logs.push(m),
                done: () => (fs.existsSync(path.join(dir, "done.json")) ? file : null),
                make: async () => {
                    makes++;
                    fs.mkdirSync(dir, { recursive: true });
                    fs.writeFileSync(file, "weights ".repeat(100));
                    fs.writeFileSync(path.join(dir, "done.json"), "{}");
                    return file;
                },
                seal: (f) => [f],
            });
        await stage();
        expect(fs.existsSync(path.join(dir, SEAL_FILE))).toBe(true);
        await stage();
        expect(makes).toBe(1);
        // Same size, other bytes: found by its hash.
        fs.writeFileSync(file, "WEIGHTS ".repeat(100));
        expect(sealChanges(dir)).toEqual([`${file}: its sha256 differs from the one sealed when it was made`]);
        const verify = () => {
            try {
                return { code: 0, out: execFileSync("node", [BIN, "cache", "verify", "--root", root], { encoding: "utf8" }) };
            } catch (e) {
                return { code: (e as { status: number }).status, out: (e as { stdout: string }).stdout };
            }
        };
        const bad = verify();
        expect(bad.code).toBe(1);
        expect(bad.out).toContain(`${file}: its sha256 differs`);
        await stage();
        expect(makes).toBe(2);
        expect(logs.some((m) => m.includes(file) && m.includes("making it again"))).toBe(true);
        // Cut short: found by its size.
        fs.writeFileSync(file, "weights");
        expect(sealChanges(dir)[0]).toMatch(/7 bytes, sealed at 800/);
        await stage();
        expect(makes).toBe(3);
        expect(verify()).toEqual({ code: 0, out: expect.stringContaining("1 sealed folders checked: every file as it was made") });
        // A marker cut short by a crash is a stage not done.
        fs.writeFileSync(path.join(dir, "done.json"), "{");
        expect(readJsonIf(path.join(dir, "done.json"))).toBeNull();
    });
});
