/** The theorem experiment's digits (src/studies/theorem-digits.ts): fixed by their seed, in range, balanced, and different enough to classify. */
import { describe, expect, it } from "vitest";
import { digitSet, drawDigit, noiseSet, PIXELS, randomStyle } from "../../src/studies/theorem-digits.ts";
import { Rng } from "../../src/util/rng.ts";

describe("procedural digits", () => {
    it("are fixed by their seed, in [0, 1], and balanced over the ten classes", () => {
        const a = digitSet(5, 60);
        expect(a.images).toHaveLength(60 * PIXELS);
        expect(Buffer.from(digitSet(5, 60).images.buffer)).toEqual(Buffer.from(a.images.buffer));
        expect(digitSet(5, 60).labels).toEqual(a.labels);
        expect(Buffer.from(digitSet(6, 60).images.buffer)).not.toEqual(Buffer.from(a.images.buffer));
        expect(a.images.every((v) => v >= 0 && v <= 1)).toBe(true);
        expect(Array.from({ length: 10 }, (_, d) => a.labels.filter((x) => x === d).length)).toEqual(new Array(10).fill(6));
        // Strokes, not blank or full boxes: some ink, mostly background.
        const ink = a.images.reduce((s, v) => s + (v > 0.5 ? 1 : 0), 0) / a.images.length;
        expect(ink).toBeGreaterThan(0.05);
        expect(ink).toBeLessThan(0.3);
        expect(() => drawDigit(10, randomStyle(new Rng(1)), new Rng(1))).toThrow("expected a digit 0-9, got 10");
    });

    it("draw ten different shapes: a nearest-centroid classifier fit on one seed's set reads another's far above chance", () => {
        const train = digitSet(1, 1000);
        const test = digitSet(2, 300);
        const centroids = Array.from({ length: 10 }, () => new Float64Array(PIXELS));
        const counts = new Array<number>(10).fill(0);
        for (let k = 0; k < train.n; k++) {
            const c = centroids[train.labels[k]!]!;
            for (let p = 0; p < PIXELS; p++) c[p]! += train.images[k * PIXELS + p]!;
            counts[train.labels[k]!]!++;
        }
        centroids.forEach((c, d) => c.forEach((v, p) => (c[p] = v / counts[d]!)));
        let right = 0;
        for (let k = 0; k < test.n; k++) {
            let best = -1;
            let bestD = Infinity;
            centroids.forEach((c, d) => {
                let s = 0;
                for (let p = 0; p < PIXELS; p++) s += (test.images[k * PIXELS + p]! - c[p]!) ** 2;
                if (s < bestD) [best, bestD] = [d, s];
            });
            if (best === test.labels[k]) right++;
        }
        // Measured 0.59 (chance 0.10; the shifts and slants blur the centroids): a generator whose shapes collapsed falls below.
        expect(right / test.n).toBeGreaterThan(0.4);
    });

    it("gives the students uniform noise, fixed by its seed", () => {
        const n = noiseSet(3, 20);
        expect(n.images).toEqual(noiseSet(3, 20).images);
        const m = n.images.reduce((s, v) => s + v, 0) / n.images.length;
        expect(m).toBeGreaterThan(0.45);
        expect(m).toBeLessThan(0.55);
        expect([...n.labels]).toEqual(new Array(20).fill(-1));
    });
});
