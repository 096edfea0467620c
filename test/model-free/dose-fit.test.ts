/** The dose-response fit (src/stats/dose.ts) tells a slope from a threshold on simulated students, and finds the midpoint. */
import { describe, expect, it } from "vitest";
import { fitDose, type DosePoint } from "../../src/stats/dose.ts";
import { Rng } from "../../src/util/rng.ts";

const DOSES = [0, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];

/** Six seeds of students whose transfer is curve(f) plus noise; each seed's control shared across doses. */
function simulate(curve: (f: number) => number, seed: number, sd = 0.05): DosePoint[] {
    const rng = new Rng(seed);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const control = Array.from({ length: 6 }, () => -4 + sd * normal());
    return DOSES.map((f) => ({ f, control, treated: control.map((c) => (f === 0 ? c : c + curve(f) + sd * normal())) }));
}

describe("dose-response fit", () => {
    it("calls a straight rise a slope", () => {
        const fit = fitDose(
            simulate((f) => 0.8 * f, 3),
            { resamples: 100 },
        );
        expect(fit.shape).toBe("slope");
        expect(fit.slope.b).toBeGreaterThan(0.7);
        expect(fit.slope.b).toBeLessThan(0.9);
    });

    it("calls a sharp rise at 20% a threshold and puts its midpoint there", () => {
        const fit = fitDose(
            simulate((f) => (f >= 0.2 ? 0.8 : 0), 4),
            { resamples: 100 },
        );
        expect(fit.shape).toBe("threshold");
        expect(fit.threshold.mid).toBeGreaterThan(0.1);
        expect(fit.threshold.mid).toBeLessThan(0.25);
        expect(fit.threshold.midCi95[0]).toBeLessThanOrEqual(fit.threshold.mid);
        expect(fit.threshold.midCi95[1]).toBeGreaterThanOrEqual(fit.threshold.mid);
        expect(fit.threshold.top).toBeGreaterThan(0.7);
    });

    it("calls a rise steepest at the smallest doses saturating, not a threshold", () => {
        const fit = fitDose(
            simulate((f) => 1 - Math.exp(-f / 0.08), 6),
            { resamples: 100 },
        );
        expect(fit.deltaAicc).toBeGreaterThan(2);
        expect(fit.threshold.mid).toBeLessThan(0.01);
        expect(fit.shape).toBe("saturating");
    });

    it("gives each dose's transfer as treated minus control, and refuses fewer than three doses or unequal seeds", () => {
        const pts = simulate((f) => f, 5);
        const fit = fitDose(pts, { resamples: 10 });
        expect(fit.points[0]).toEqual({ f: 0, transfer: 0 });
        expect(() => fitDose(pts.slice(0, 2))).toThrow("at least 3 doses");
        expect(() => fitDose([...pts.slice(0, 3), { f: 1, treated: [1], control: [0] }])).toThrow("the same seeds");
    });
});
