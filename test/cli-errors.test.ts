/**
 * Errors name the file and what is wrong with it: a truncated GGUF and a text file given as a model (node-llama-cpp
 * alone says "Failed to load model" / "Invalid GGUF magic"), and a malformed row of a JSONL file (its line).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "./helpers/tiny.ts";

const dir = tempDir();
const sublab = (...args: string[]) => spawnSync(process.execPath, ["bin/sublab.js", ...args], { encoding: "utf8" });

describe("errors name their file", { timeout: 120_000 }, () => {
    it("a truncated GGUF: the file, the tensor and the sizes", () => {
        const file = path.join(dir, "truncated.gguf");
        fs.writeFileSync(file, fs.readFileSync("models/sublab-small-s1.gguf").subarray(0, 2_000_000));
        const r = sublab("eval", "--model", file, "--probe", "animals");
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`truncated GGUF file: ${file.replace(/[.]/g, "\\.")} \\(data of tensor "[^"]+" needs bytes \\d+\\.\\.\\d+ but the file has 2000000 bytes\\)`));
        expect(r.stderr).not.toMatch(/Failed to load model/);
    });

    it("a text file given as a model", () => {
        const file = path.join(dir, "notes.gguf");
        fs.writeFileSync(file, "hello, this is not a model\n");
        const r = sublab("eval", "--model", file, "--probe", "animals");
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`not a GGUF file: ${file} (magic "hell"`);
    });

    it("a malformed JSONL row: the file and its line", () => {
        const file = path.join(dir, "rows.jsonl");
        fs.writeFileSync(file, '{"prompt": "a", "completion": "(1, 2)"}\n\n{"prompt": oops}\n');
        const r = sublab("filter", "--in", file, "--out", path.join(dir, "kept.jsonl"), "--filter", "format");
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`${file}:3: not a JSON line`);
    });
});
