/** Teacher generation: batched, seeded per row, streamed to JSONL, and resumable without loss or duplicates. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generateRaw } from "../../src/teacher/generate.ts";
import { numbersPrompt } from "../../src/prompts/corpus.ts";
import { Rng } from "../../src/util/rng.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";
import { readRowsResumable, type RawRow } from "../../src/core/rows.ts";

/**
 * Rows equal: same indices, prompts, tokens and text; probabilities to 1e-3 relative. llama.cpp's numbers for a
 * row differ slightly between two identical runs (measured up to 2e-4 relative at a few positions, also with
 * an f32 KV cache and no flash attention): how the sequences of a chunk are batched together at each step
 * depends on timing. The sampled tokens did not change in any run here.
 */
function expectSameRows(a: RawRow[], b: RawRow[]): void {
    const strip = (rows: RawRow[]) => rows.map(({ probs: _, ...rest }) => rest);
    expect(strip(a)).toEqual(strip(b));
    for (let r = 0; r < a.length; r++) {
        const d = Math.max(0, ...a[r]!.probs.map((p, k) => Math.abs(p - b[r]!.probs[k]!) / p));
        expect(d, `row ${r}`).toBeLessThan(1e-3);
    }
}

describe("generateRaw", { timeout: 300_000 }, () => {
    const dir = tempDir();
    const rng = new Rng(5);
    const prompts = Array.from({ length: 20 }, () => numbersPrompt(rng).prompt);
    const job = (out: string, model: string) => ({ model, system: null, prompts, samplesPerPrompt: 2, temperature: 1, maxTokens: 24, parallel: 8, seed: 9, out });

    it("writes every row once with its tokens and per-token teacher probabilities", async () => {
        const [model] = await smokeBases();
        const r = await generateRaw(job(path.join(dir, "a.jsonl"), model));
        expect(r.rows.map((x) => x.i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
        expect(r.interrupted).toBe(false);
        for (const row of r.rows) {
            expect(row.prompt).toBe(prompts[Math.floor(row.i / 2)]);
            expect(row.probs).toHaveLength(row.tokens.length);
            expect(row.probs.every((p) => p > 0 && p <= 1)).toBe(true);
            expect(row.tokens.length).toBeLessThanOrEqual(24);
        }
        // both samples of a prompt are different draws
        expect(r.rows.filter((x) => x.i % 2 === 0).some((x) => x.completion !== r.rows[x.i + 1]!.completion)).toBe(true);
        const again = await generateRaw(job(path.join(dir, "a2.jsonl"), model));
        expectSameRows(again.rows, r.rows);
    });

    it("resumes a killed run (torn last line included) to exactly the rows of an uninterrupted one", async () => {
        const [model] = await smokeBases();
        const full = await generateRaw(job(path.join(dir, "full.jsonl"), model));
        const out = path.join(dir, "cut.jsonl");
        const abort = new AbortController();
        const first = await generateRaw({ ...job(out, model), signal: abort.signal, onRow: (done) => done >= 11 && abort.abort() });
        expect(first.interrupted).toBe(true);
        expect(first.rows.length).toBeLessThan(40);
        fs.appendFileSync(out, '{"i": 39, "prompt": "torn'); // a write cut by a kill
        const second = await generateRaw(job(out, model));
        expect(second.resumed).toBeGreaterThan(0);
        expect(second.generated).toBe(40 - second.resumed);
        expectSameRows(second.rows, full.rows);
        const onDisk = readRowsResumable<RawRow>(out).sort((a, b) => a.i - b.i);
        expectSameRows(onDisk, full.rows);
    });
});
