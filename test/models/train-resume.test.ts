/**
 * Same seed, same loss curve; a run stopped mid-way (here by an abort signal after a checkpoint, the same
 * state a killed process leaves) and resumed ends with exactly the weights of an uninterrupted run.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ALL_LORA_TARGETS } from "../../src/engine/model-config.ts";
import type { Model } from "../../src/engine/model.ts";
import { train } from "../../src/students/trainer.ts";
import { type TrainExample, type TrainOptions } from "../../src/students/trainer-types.ts";
import { Rng } from "../../src/util/rng.ts";
import { tempDir, tinyModel } from "../helpers/tiny.ts";

function randomExamples(n: number, seed: number): TrainExample[] {
    const rng = new Rng(seed);
    return Array.from({ length: n }, () => {
        const len = 8 + rng.int(20);
        const tokens = Int32Array.from({ length: len }, (_, j) => (j === 0 ? 1 : 270 + rng.int(40)));
        const promptLen = 1 + rng.int(5);
        return { tokens, targetMask: Uint8Array.from(tokens, (_, j) => (j >= promptLen ? 1 : 0)) };
    });
}

function weightsOf(m: Model): Map<string, Float32Array> {
    const s = m.lora ? m.lora.store : m.weights;
    return new Map(s.names().map((n) => [n, s.get(n)]));
}

describe("determinism and resume", () => {
    const ex = randomExamples(40, 5);

    for (const mode of ["full", "lora"] as const) {
        const setup = () => {
            const m = tinyModel({}, 4);
            if (mode === "lora") m.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 9);
            return m;
        };
        const opts: TrainOptions = { mode, lr: 3e-3, epochs: 3, batchSize: 6, seed: 17, warmupSteps: 3 };

        it(`${mode}: same seed gives the same loss curve and weights; another seed does not`, async () => {
            const runs = [];
            for (const seed of [17, 17, 18]) {
                const m = setup();
                const r = await train(m, ex, { ...opts, seed });
                runs.push({ losses: r.losses, w: weightsOf(m) });
                m.free();
            }
            expect(runs[0].losses).toEqual(runs[1].losses);
            for (const [n, w] of runs[0].w) expect(runs[1].w.get(n)).toEqual(w);
            expect(runs[2].losses).not.toEqual(runs[0].losses);
        });

        it(`${mode}: interrupted at a checkpoint and resumed ends with identical weights`, async () => {
            const dir = tempDir();
            const ck = path.join(dir, "ck.gguf");
            const full = setup();
            const ref = await train(full, ex, opts);
            const refW = weightsOf(full);
            full.free();

            const m1 = setup();
            const stop = new AbortController();
            const first = await train(m1, ex, {
                ...opts,
                checkpointPath: ck,
                checkpointEvery: 4,
                signal: stop.signal,
                onStep: (s) => s.step === 9 && stop.abort(),
            });
            expect(first.interrupted).toBe(true);
            expect(first.steps).toBe(9);
            expect(fs.existsSync(ck)).toBe(true);
            m1.free();

            // A fresh process would start from the base model again: so do we.
            const m2 = setup();
            const second = await train(m2, ex, { ...opts, checkpointPath: ck, checkpointEvery: 4 });
            expect(second.resumedFrom).toBe(9);
            expect(second.steps).toBe(ref.steps);
            // The resumed run reports the whole run's losses, the checkpoint's nine first.
            expect(first.losses).toEqual(ref.losses.slice(0, 9));
            expect(second.losses).toEqual(ref.losses);
            for (const [n, w] of weightsOf(m2)) expect(w, n).toEqual(refW.get(n));
            m2.free();
        });

        it(`${mode}: killed after its last checkpoint, a run resumes with no step left and the whole run's losses`, async () => {
            const ck = path.join(tempDir(), "ck.gguf");
            const a = setup();
            const ref = await train(a, ex, { ...opts, checkpointPath: ck });
            a.free();
            // The model was never saved (the process died here): the run is started again.
            const b = setup();
            const again = await train(b, ex, { ...opts, checkpointPath: ck });
            expect(again.resumedFrom).toBe(ref.steps);
            expect(again.losses).toEqual(ref.losses);
            expect(again.losses.length).toBeGreaterThan(0);
            b.free();
        });
    }

    it("full: stopped by maxSteps, then resumed without it, matches an uninterrupted run", async () => {
        const ck = path.join(tempDir(), "ck.gguf");
        const opts: TrainOptions = { mode: "full", lr: 3e-3, epochs: 2, batchSize: 6, seed: 3 };
        const a = tinyModel({}, 4);
        const ref = await train(a, ex, opts);
        const b = tinyModel({}, 4);
        const first = await train(b, ex, { ...opts, maxSteps: 5, checkpointPath: ck });
        expect(first.steps).toBe(5);
        b.free();
        const c = tinyModel({}, 4);
        const second = await train(c, ex, { ...opts, checkpointPath: ck });
        expect(second.losses).toEqual(ref.losses);
        for (const [n, w] of weightsOf(c)) expect(w, n).toEqual(weightsOf(a).get(n));
        a.free();
        c.free();
    });

    it("a checkpoint from another run is refused with a clear message", async () => {
        const dir = tempDir();
        const ck = path.join(dir, "ck.gguf");
        const m = tinyModel({}, 4);
        await train(m, ex, { mode: "full", lr: 1e-3, maxSteps: 2, batchSize: 4, checkpointPath: ck });
        await expect(train(m, ex, { mode: "full", lr: 2e-3, maxSteps: 2, batchSize: 4, checkpointPath: ck })).rejects.toThrow(/belongs to a different run/);
        m.free();
    });
});
