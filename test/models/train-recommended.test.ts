/**
 * Learning rates that fit the model: the embedded bases carry measured rates in their GGUF metadata, a model
 * without them falls back to the paper's, and a run whose loss barely moved says so.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createModel } from "../../src/engine/model.ts";
import { defaultLr, FALLBACK_LR, flatLossWarning, RECOMMENDED_LR_KEYS } from "../../src/students/recommended.ts";
import { tempDir } from "../helpers/tiny.ts";

describe("recommended learning rates", () => {
    it("reads the embedded bases' rates from their GGUF metadata", () => {
        for (const m of ["models/sublab-small-s1.gguf", "models/sublab-deep-s2.gguf"]) {
            for (const mode of ["lora", "full"] as const) {
                const r = defaultLr(m, mode);
                expect(r.source, `${m} ${mode}`).toContain(RECOMMENDED_LR_KEYS[mode]);
                expect(r.lr).toBeGreaterThan(FALLBACK_LR[mode]);
            }
        }
    });

    it("falls back to the paper's rates for a model that recommends none", () => {
        const file = path.join(tempDir(), "plain.gguf");
        const m = createModel({ vocabSize: 64, dModel: 16, nLayers: 1, nHeads: 2 }, 1);
        m.save(file);
        m.free();
        expect(defaultLr(file, "lora")).toMatchObject({ lr: FALLBACK_LR.lora });
        expect(defaultLr(file, "full")).toMatchObject({ lr: FALLBACK_LR.full });
    });

    it("warns when the loss barely moved, not when it fell", () => {
        const flat = Array.from({ length: 24 }, (_, i) => 3.1 - 0.002 * i);
        expect(flatLossWarning(flat, 2e-4)).toMatch(/loss barely moved \(3\.09\d -> 3\.05\d.*lr 0\.0002/);
        const falling = Array.from({ length: 24 }, (_, i) => 3.1 * Math.exp(-0.05 * i));
        expect(flatLossWarning(falling, 2e-3)).toBeNull();
        expect(flatLossWarning([3, 3, 3], 1e-4)).toBeNull(); // too few steps to say
    });
});
