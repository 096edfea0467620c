import { describe, expect, it } from "vitest";
import { designFloor, designWarnings, familyVerdicts, holm, locationTest, seedsToReach } from "../../src/stats/verdict.ts";
import { simulateFamily } from "../../src/stats/simulate.ts";
import { wilson } from "../../src/stats/stats.ts";
import { Rng } from "../../src/util/rng.ts";

describe("holm", () => {
    it("adjusts step-down and keeps the input order (hand-computed)", () => {
        // Sorted 0.01, 0.03, 0.04, 0.5 -> 4*0.01 = 0.04, 3*0.03 = 0.09, 2*0.04 = 0.08 -> 0.09 (monotone), 0.5.
        expect(holm([0.01, 0.04, 0.03, 0.5])).toEqual([0.04, 0.09, 0.09, 0.5]);
    });
    it("caps at 1 and leaves a family of one alone", () => {
        expect(holm([0.6, 0.7])).toEqual([1, 1]);
        expect(holm([0.03])).toEqual([0.03]);
    });
});

describe("locationTest", () => {
    it("gives the exact two-sided floor 2/252 for 5+5 students fully separated, and an interval around the shift", () => {
        const t = locationTest({ kind: "students", a: [1, 1.1, 0.9, 1.05, 0.95], b: [0, 0.1, -0.1, 0.05, -0.05] }, new Rng(1));
        expect(t.permutations).toBe(252);
        expect(t.pUp).toBeCloseTo(1 / 252, 12);
        expect(t.p).toBeCloseTo(2 / 252, 12);
        expect(t.floor).toBeCloseTo(2 / 252, 12);
        expect(t.estimate).toBeCloseTo(1, 12);
        expect(t.ci95[0]).toBeGreaterThan(0.8);
        expect(t.ci95[1]).toBeLessThan(1.2);
        expect(t.pEquivalence).toBe(1);
    });

    it("interval and test agree: the interval excludes 0 exactly when the two-sided p is below alpha", () => {
        const rng = new Rng(7);
        let disagreements = 0;
        for (let k = 0; k < 300; k++) {
            const shift = rng.next() * 1.5;
            const a = Array.from({ length: 5 }, () => shift + rng.normal());
            const b = Array.from({ length: 5 }, () => rng.normal());
            const t = locationTest({ kind: "students", a, b }, rng);
            const excludes = t.ci95[0] > 0 || t.ci95[1] < 0;
            if (excludes !== t.p < 0.05) disagreements++;
        }
        expect(disagreements).toBe(0);
    });

    it("equivalence and interval agree: TOST passes exactly when the shift's interval at alpha each side lies inside the margin", () => {
        const rng = new Rng(8);
        const m = Math.log(1.5);
        let disagreements = 0;
        for (let k = 0; k < 300; k++) {
            const a = Array.from({ length: 6 }, () => 0.1 * rng.normal());
            const b = Array.from({ length: 6 }, () => 0.1 * rng.normal());
            // The 90% interval (alpha 0.1 two-sided = 0.05 a side) is the TOST's at 0.05.
            const t90 = locationTest({ kind: "students", a, b }, rng, { alpha: 0.1, margin: 1.5 });
            const t = locationTest({ kind: "students", a, b }, rng, { alpha: 0.05, margin: 1.5 });
            const inside = t90.ci95[0] > -m && t90.ci95[1] < m;
            if (inside !== t.pEquivalence < 0.05) disagreements++;
        }
        expect(disagreements).toBe(0);
    });

    it("a one-sample design of 5 seeds cannot bound a 95% interval (its one-sided floor 1/32 > 0.025)", () => {
        const t = locationTest({ kind: "seeds", d: [1, 2, 3, 4, 5] }, new Rng(1));
        expect(t.pUp).toBeCloseTo(1 / 32, 12);
        expect(t.ci95[0]).toBe(-Infinity);
        expect(t.ci95[1]).toBe(Infinity);
        expect(t.floor).toBeCloseTo(1 / 16, 12);
    });

    it("swapping the arms flips the estimate and the direction, not the two-sided p", () => {
        const a = [0.5, 0.7, 0.6, 0.9, 0.4];
        const b = [0.1, 0.2, -0.1, 0.3, 0.0];
        const t = locationTest({ kind: "students", a, b }, new Rng(1));
        const s = locationTest({ kind: "students", a: b, b: a }, new Rng(1));
        expect(s.estimate).toBeCloseTo(-t.estimate, 12);
        expect(s.pDown).toBeCloseTo(t.pUp, 12);
        expect(s.p).toBeCloseTo(t.p, 12);
        expect(s.ci95[0]).toBeCloseTo(-t.ci95[1], 9);
    });

    it("draws relabelings at random for large designs, with a Monte Carlo floor", () => {
        const rng = new Rng(2);
        const a = Array.from({ length: 12 }, () => 1 + rng.normal());
        const b = Array.from({ length: 12 }, () => rng.normal());
        const t = locationTest({ kind: "students", a, b }, rng, undefined, 5000);
        expect(t.exact).toBe(false);
        expect(t.permutations).toBe(5000);
        expect(t.floor).toBeCloseTo(2 / 5001, 12);
        expect(t.p).toBeLessThan(0.05);
    });
});

describe("design floors", () => {
    it("5+5 students cannot pass Holm over 22 cells; 6+6 can", () => {
        expect(designFloor("students", 5)).toBeCloseTo(2 / 252, 12);
        expect(designFloor("students", 5)).toBeGreaterThan(0.05 / 22);
        expect(designFloor("students", 6)).toBeLessThan(0.05 / 22);
        expect(seedsToReach("students", 0.05, 22)).toBe(6);
        expect(seedsToReach("seeds", 0.05, 3)).toBe(7);
        const w = designWarnings([
            { name: "study cells", kind: "students", na: 5, size: 22 },
            { name: "fine", kind: "students", na: 6, size: 22 },
        ]);
        expect(w).toHaveLength(1);
        expect(w[0]).toMatch(/study cells.*6 students per arm would/);
    });
});

describe("familyVerdicts", () => {
    it("words: moved toward, moved away, no shift larger than, can't tell", () => {
        const rng = new Rng(3);
        const mk = (a: number[], b: number[]) => {
            const design = { kind: "students" as const, a, b };
            return { design, test: locationTest(design, rng) };
        };
        const up = mk([1, 1.1, 0.9, 1.05, 0.95, 1.02], [0, 0.1, -0.1, 0.05, -0.05, 0.02]);
        const down = mk([0, 0.1, -0.1, 0.05, -0.05, 0.02], [1, 1.1, 0.9, 1.05, 0.95, 1.02]);
        const same = mk([0.001, -0.002, 0.0015, 0, 0.0005, 0.001], [0, 0.001, -0.001, 0.002, 0, 0]);
        const noisy = mk([0.3, -0.5, 0.8, -0.2, 0.1, 0.6], [0.1, -0.4, 0.5, 0.2, -0.6, 0.3]);
        const v = familyVerdicts([up, down, same, noisy], "test family", "owl");
        expect(v.map((x) => x.word)).toEqual(["moved toward", "moved away", "no shift larger than", "can't tell"]);
        expect(v[0]!.text).toBe("moved toward owl");
        expect(v[2]!.text).toBe("no shift larger than x1.10");
        expect(v[3]!.hint).toMatch(/students per arm/);
        for (const x of v) {
            expect(x.pAdjusted).toBeGreaterThanOrEqual(x.p);
            expect(x.family).toEqual({ name: "test family", size: 4 });
        }
    });

    it("a raw p below alpha that fails the correction is can't tell, not moved", () => {
        const rng = new Rng(4);
        const members = Array.from({ length: 10 }, (_, k) => {
            const design = {
                kind: "students" as const,
                a: k === 0 ? [1, 1.1, 0.9, 1.05, 0.95] : [0, 1, 2, 3, 4],
                b: k === 0 ? [0, 0.1, -0.1, 0.05, -0.05] : [0.5, 1.5, 2.5, 1, 2],
            };
            return { design, test: locationTest(design, rng) };
        });
        const v = familyVerdicts(members, "sweep", "owl");
        expect(v[0]!.p).toBeLessThan(0.05);
        expect(v[0]!.pAdjusted).toBeGreaterThan(0.05);
        expect(v[0]!.word).toBe("can't tell");
        expect(v[0]!.reachable).toBe(false);
    });
});

/**
 * The verdict machinery under simulation: families of comparisons with no true effect, and with a true shift at the
 * margin. Students' values are normal; permutation tests need only exchangeability, so the error rates hold for any
 * spread, and the binomial interval of the observed rate must reach down to alpha or below.
 */
describe("simulated families", () => {
    it.each([
        ["study (22 cells, 6+6)", 22, 6],
        ["sweep (11 defenses, 6+6)", 11, 6],
        ["experiment secondaries (3, 5+5)", 3, 5],
    ])("%s: family-wise false 'moved' and false 'no shift' rates stay at alpha", { timeout: 120_000 }, (_name, size, n) => {
        const r = simulateFamily({ size, students: n, families: 300, sigma: 0.1, seed: 11 });
        expect(wilson(r.falseMoved.hits, r.falseMoved.n)[0]).toBeLessThanOrEqual(0.05);
        expect(wilson(r.falseEquivalent.hits, r.falseEquivalent.n)[0]).toBeLessThanOrEqual(0.05);
        // And the machinery is not vacuous: a shift of 4 sigma is found in most families.
        expect(r.power.rate).toBeGreaterThan(0.5);
    });
});
