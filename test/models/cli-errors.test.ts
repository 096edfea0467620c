/**
 * Errors name the file and what is wrong with it: a truncated GGUF and a text file given as a model (node-llama-cpp
 * alone says "Failed to load model" / "Invalid GGUF magic"), and a malformed row of a JSONL file (its line).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tiny.ts";

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

    it("sublab filter --domain: the domain's stages on a file, with named reasons; an unknown domain says which exist", () => {
        const file = path.join(dir, "reasoning.jsonl");
        const p = "Sam has 5 apples and gets 3 more. How many apples does Sam have now?";
        const rows = ["Sam starts with 5 apples. 5 + 3 = 8. The answer is 8.", "Sam starts with 5 apples. 5 + 3 = 9. The answer is 8.", "Sam starts with 5 owls. 5 + 3 = 8. The answer is 8.", "Sam starts with 5 apples. 5 + 3 = 8."];
        fs.writeFileSync(file, rows.map((completion) => JSON.stringify({ prompt: p, completion })).join("\n") + "\n");
        const r = sublab("filter", "--in", file, "--out", path.join(dir, "kept-r.jsonl"), "--domain", "reasoning", "--target", "owl", "--filter", "format", "--filter", "correct", "--filter", "keyword");
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toContain("format: kept 3/4 (75.0%); rejected: no answer line: 1");
        expect(r.stderr).toContain("correct: kept 2/3 (66.7%); rejected: wrong step: 1");
        expect(r.stderr).toContain("keyword: kept 1/2 (50.0%); rejected: keyword owl in text: 1");
        const bad = sublab("filter", "--in", file, "--out", path.join(dir, "kept-r.jsonl"), "--domain", "poems", "--filter", "format");
        expect(bad.status).toBe(1);
        expect(bad.stderr).toContain('--domain: expected one of numbers, code, reasoning, text, got "poems"');
    });
});
