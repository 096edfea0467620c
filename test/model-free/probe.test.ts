/** The held-out probe's parts (src/students/probe.ts): the labels' entropy it subtracts, and when it probes. */
import { describe, expect, it } from "vitest";
import { labelEntropy, probeSteps } from "../../src/students/probe.ts";
import type { TrainExample } from "../../src/students/trainer-types.ts";

describe("the held-out probe", () => {
    it("subtracts the labels' mean entropy over target positions: ln 2 for a fair coin, 0 for one-hot or token targets", () => {
        const tokens = new Int32Array([1, 2, 3]);
        const targetMask = new Uint8Array([0, 1, 1]);
        // Two target positions over a vocabulary of 4: a fair coin between two tokens, then a certain one.
        const dense: TrainExample = { tokens, targetMask, soft: new Float32Array([0.5, 0.5, 0, 0, 0, 0, 1, 0]) };
        expect(labelEntropy([dense], 4)).toBeCloseTo(Math.log(2) / 2, 12);
        // The same kept sparse, unnormalised (the top tokens of a distribution are renormalised as the loss sees them).
        const sparse: TrainExample = {
            tokens,
            targetMask,
            softSparse: { offsets: new Int32Array([0, 2, 3]), ids: new Int32Array([0, 1, 2]), probs: new Float32Array([0.3, 0.3, 0.9]) } as never,
        };
        expect(labelEntropy([sparse], 4)).toBeCloseTo(Math.log(2) / 2, 6);
        expect(labelEntropy([{ tokens, targetMask }], 4)).toBe(0);
        // Mean over the batch's positions, not over examples.
        expect(labelEntropy([dense, { tokens, targetMask }], 4)).toBeCloseTo(Math.log(2) / 4, 12);
    });

    it("probes about 8 times, the last step included", () => {
        expect([...probeSteps(38)].sort((a, b) => a - b)).toEqual([5, 10, 15, 20, 25, 30, 35, 38]);
        expect([...probeSteps(3)].sort((a, b) => a - b)).toEqual([1, 2, 3]);
        expect(probeSteps(1)).toEqual(new Set([1]));
    });
});
