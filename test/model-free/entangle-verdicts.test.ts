/**
 * The entanglement run's verdicts: its tests (the set comparisons and the partial rank correlations) are one
 * family, two-sided, Holm-corrected; "no difference" and "no correlation" need their equivalence tests.
 */
import { describe, expect, it } from "vitest";
import { ENTANGLE_STATS, entangleVerdicts, normalCdf, rankCorrelation } from "../../src/studies/entangle.ts";
import { Rng } from "../../src/util/rng.ts";

describe("entanglement verdicts", () => {
    it("the normal distribution function to 1e-6", () => {
        expect(normalCdf(0)).toBeCloseTo(0.5, 7);
        expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
        expect(normalCdf(-1.644854)).toBeCloseTo(0.05, 6);
        expect(normalCdf(3)).toBeCloseTo(0.99865, 5);
    });

    it("a partial correlation: two-sided (a negative one is found), its interval, and equivalence only when the interval is narrow and near 0", () => {
        const rng = new Rng(4);
        const n = 1000;
        const z = Array.from({ length: n }, () => rng.next());
        const x = Array.from({ length: n }, () => rng.next());
        const neg = rankCorrelation(
            x,
            x.map((v) => -v + 0.5 * rng.next()),
            z,
            new Rng(1),
            500,
        );
        expect(neg.partial).toBeLessThan(-0.5);
        expect(neg.p).toBeLessThan(0.01);
        expect(neg.ci95![1]).toBeLessThan(0);
        // Independent, and many numbers: no correlation beyond +-0.1.
        const none = rankCorrelation(
            x,
            x.map(() => rng.next()),
            z,
            new Rng(1),
            500,
        );
        expect(none.ci95![0]).toBeGreaterThan(-0.1);
        expect(none.ci95![1]).toBeLessThan(0.1);
        expect(none.pEquivalence!).toBeLessThan(0.05);
        // Independent but few: can't tell (wide interval).
        const few = rankCorrelation(
            x.slice(0, 30),
            x.slice(0, 30).map(() => rng.next()),
            z.slice(0, 30),
            new Rng(1),
            500,
        );
        expect(few.pEquivalence!).toBeGreaterThan(0.3);
    });

    it("Holm over the family: a p that passes alone fails beside others; the words follow the sign and the kind", () => {
        const v = entangleVerdicts([
            { kind: "sets", estimate: 0.4, p: 0.01, pEquivalence: 0.9 },
            { kind: "sets", estimate: -0.3, p: 0.011, pEquivalence: 0.9 },
            { kind: "correlation", estimate: 0.08, p: 0.02, pEquivalence: 0.9 },
            { kind: "correlation", estimate: 0.01, p: 0.6, pEquivalence: 0.001 },
        ]);
        expect(v.map((x) => x.pAdjusted)).toEqual([0.04, 0.04, 0.04, 0.6]);
        expect(v.map((x) => x.text)).toEqual(["higher", "lower", "positive", `no correlation beyond +-${ENTANGLE_STATS.rhoMargin}`]);
        // Alone, 0.02 passes; with three others at 0.3 it does not (0.02 x 4 = 0.08).
        const w = entangleVerdicts([
            { kind: "correlation", estimate: 0.08, p: 0.02, pEquivalence: 0.9 },
            ...[1, 2, 3].map(() => ({ kind: "sets" as const, estimate: 0.1, p: 0.3, pEquivalence: 0.9 })),
        ]);
        expect(entangleVerdicts([{ kind: "correlation", estimate: 0.08, p: 0.02, pEquivalence: 0.9 }])[0]!.text).toBe("positive");
        expect(w[0]!.text).toBe("can't tell");
        expect(w[1]!.text).toBe("can't tell");
        expect(entangleVerdicts([{ kind: "sets", estimate: 0.01, p: 0.8, pEquivalence: 0.01 }])[0]!.text).toBe(
            `no difference larger than x${ENTANGLE_STATS.margin}`,
        );
    });
});
