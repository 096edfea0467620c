import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cachedPath } from "../../src/core/cache.ts";

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
