/** The theorem's comparisons get the lab's verdicts: Holm over the run's comparisons, equivalence within 2 points. */
import { describe, expect, it } from "vitest";
import type { TheoremArm } from "../../src/core/results.ts";
import { compareAll } from "../../src/studies/theorem.ts";
import { Rng } from "../../src/util/rng.ts";

const arm = (name: string, accuracies: number[]): TheoremArm => ({
    arm: name,
    description: "",
    accuracies,
    mean: accuracies.reduce((a, b) => a + b, 0) / accuracies.length,
    ci95: [0, 1],
});

describe("theorem verdicts", () => {
    const rng = new Rng(7);
    const noise = () => (rng.next() - 0.5) * 0.004; // +-0.2 points
    const same = arm(
        "same init",
        Array.from({ length: 10 }, (_, k) => 0.5 + 0.01 * k),
    );
    const other = arm(
        "other init",
        Array.from({ length: 10 }, () => 0.1 + noise()),
    );
    const twin = arm(
        "weak decay",
        same.accuracies.map((a) => a + noise()),
    );
    const noisy = arm(
        "noisy",
        same.accuracies.map((a, k) => a + (k % 2 ? 0.06 : -0.05)),
    );

    it("higher where every seed leads, no difference within 2 points where none does, can't tell in between", () => {
        const cs = compareAll(
            [
                [same, other],
                [same, twin],
                [same, noisy],
            ],
            new Rng(1),
        );
        expect(cs.map((c) => c.verdict!.text)).toEqual(["higher", "no difference larger than 2 points", "can't tell"]);
        expect(cs[0]!.p).toBeCloseTo(2 / 1024, 6);
        expect(cs[0]!.verdict!.pAdjusted).toBeCloseTo(3 * (2 / 1024), 6);
        expect(cs[0]!.ci95[0]).toBeGreaterThan(0.3);
        expect(cs.every((c) => c.verdict!.family.size === 3)).toBe(true);
    });

    it("lower where the other arm leads", () => {
        const [c] = compareAll([[other, same]], new Rng(2));
        expect(c!.verdict!.text).toBe("lower");
    });
});
