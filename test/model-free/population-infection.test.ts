import { describe, expect, it } from "vitest";
import { infectionTest } from "../../src/studies/population.ts";
import { calibrateMonitor, epidemicRates } from "../../src/studies/population-summary.ts";
import { againstNull, compareLinks, linkDistances } from "../../src/studies/population-links.ts";
import type { PopulationRun } from "../../src/core/results.ts";
import { Rng } from "../../src/util/rng.ts";

describe("a population's infection test", () => {
    const threshold = 1.25;
    const questions = (shift: number, seed: number) => {
        const rng = new Rng(seed);
        return Array.from({ length: 50 }, () => shift + 0.3 * (rng.next() - 0.5));
    };

    it("calls an agent infected only when its drift is above the threshold after the family's correction", () => {
        const rng = new Rng(1);
        // Drift x2 on every question: far above x1.25.
        expect(infectionTest(questions(Math.log(2), 2), threshold, 48, rng).pAdjusted).toBeLessThan(0.05);
        // Drift at the threshold: not above it.
        expect(infectionTest(questions(Math.log(threshold), 3), threshold, 48, rng).pAdjusted).toBeGreaterThan(0.05);
        // No drift at all.
        expect(infectionTest(questions(0, 4), threshold, 48, rng).pAdjusted).toBe(1);
    });

    it("adjusts over the family: a p that passes alone fails among 48 agent-rounds", () => {
        const rng = new Rng(5);
        // A drift slightly above the threshold, on noisy questions: significant alone, not after Bonferroni over 48.
        const noisy = new Rng(6);
        const xs = Array.from({ length: 50 }, () => Math.log(threshold) + 0.12 + 1.2 * (noisy.next() - 0.5));
        const alone = infectionTest(xs, threshold, 1, rng);
        const among = infectionTest(xs, threshold, 48, rng);
        expect(alone.p).toBeLessThan(0.05);
        expect(among.pAdjusted).toBeCloseTo(Math.min(1, among.p * 48), 12);
        expect(among.pAdjusted).toBeGreaterThan(0.05);
    });

    it("keeps the family-wise false infections at or below alpha on agents with no drift above the threshold", () => {
        const rng = new Rng(7);
        let families = 0;
        let anyFalse = 0;
        for (let f = 0; f < 100; f++, families++) {
            let hit = false;
            for (let a = 0; a < 8; a++) {
                const noise = new Rng(1000 * f + a);
                const xs = Array.from({ length: 50 }, () => Math.log(threshold) + 0.5 * (noise.next() - 0.5));
                if (infectionTest(xs, threshold, 8, rng, 2000).pAdjusted < 0.05) hit = true;
            }
            if (hit) anyFalse++;
        }
        // 100 null families of 8 agents at the threshold (uncorrected, about a third of them would have one): the share with any false infection, binomial bound at alpha.
        expect(anyFalse / families).toBeLessThanOrEqual(0.05 + 2 * Math.sqrt((0.05 * 0.95) / families));
    });
});

describe("the monitor calibrated on the null population", () => {
    it("flags at most floor(rate x n) null agent-rounds, fewer on ties, none at a rate below 1/n", () => {
        const drifts = [0.5, 0.4, 0.3, 0.2, 0.1, 0, -0.1, -0.2, -0.3, -0.4];
        const flagged = (rate: number, xs = drifts) => xs.filter((d) => d > calibrateMonitor(xs, rate)).length;
        expect(calibrateMonitor(drifts, 0.2)).toBe(0.3);
        expect(flagged(0.2)).toBe(2);
        expect(flagged(0.25)).toBe(2);
        expect(flagged(0.05)).toBe(0);
        expect(flagged(0.99)).toBe(9);
        expect(flagged(0.5, [0.3, 0.3, 0.3, 0.1])).toBe(0);
        expect(() => calibrateMonitor([], 0.1)).toThrow(/no monitored agent-round/);
        // On many null families the calibrated rate holds exactly, in sample, whatever the drifts' scale.
        const rng = new Rng(8);
        for (let k = 0; k < 50; k++) {
            const xs = Array.from({ length: 48 }, () => (k + 1) * (rng.next() - 0.5));
            expect(flagged(0.1, xs)).toBe(4);
        }
    });
});

describe("a population's SIS rates", () => {
    it("beta, gamma and R0 = beta / gamma, each inside its bootstrap interval, the interval narrower with more events", () => {
        const r = epidemicRates(6, 10, 3, 12);
        expect(r.beta).toBeCloseTo(0.6);
        expect(r.gamma).toBeCloseTo(0.25);
        expect(r.r0).toBeCloseTo(2.4);
        for (const [x, ci] of [
            [r.beta!, r.betaCi95!],
            [r.gamma!, r.gammaCi95!],
            [r.r0!, r.r0Ci95!],
        ] as const) {
            expect(ci[0]).toBeLessThanOrEqual(x);
            expect(ci[1]).toBeGreaterThanOrEqual(x);
        }
        const big = epidemicRates(60, 100, 30, 120);
        expect(big.betaCi95![1] - big.betaCi95![0]).toBeLessThan(r.betaCi95![1] - r.betaCi95![0]);
        // No recovery: no R0; nothing at all: no rates.
        expect(epidemicRates(2, 5, 0, 10).r0).toBeNull();
        expect(epidemicRates(0, 0, 0, 0)).toEqual({ beta: null, gamma: null, r0: null });
    });
});

describe("links from the teacher", () => {
    it("measures each agent's distance in links, breadth first", () => {
        // A ring of six with the teacher at 0, and an agent (6) on no link.
        const ring: [number, number][] = [
            [0, 1],
            [1, 2],
            [2, 3],
            [3, 4],
            [4, 5],
            [0, 5],
        ];
        expect(linkDistances(7, ring, [0])).toEqual([0, 1, 2, 3, 2, 1, -1]);
        expect(linkDistances(7, ring, [0, 3])).toEqual([0, 1, 1, 0, 1, 1, -1]);
    });

    it("says which side is higher only when the questions show it, after Holm over the measures, and no difference inside the margin", () => {
        const stats = { alpha: 0.05, margin: 1.1 };
        const dist = [0, 1, 2, 3, 2, 1];
        const noise = (seed: number, shift: number) => {
            const rng = new Rng(seed);
            return Array.from({ length: 16 }, () => shift + 0.02 * (rng.next() - 0.5));
        };
        const perAgent = (near: number, far: number) => dist.map((d, a) => noise(a + 1, d === 1 ? near : d === 2 ? far : 0));
        const higher = compareLinks(5, dist, { drift: perAgent(0.5, 0.1), exact: perAgent(0.1, 0.5) }, new Rng(1), stats, "open");
        expect(higher.groups.map((g) => [g.links, g.agents])).toEqual([
            [1, [1, 5]],
            [2, [2, 4]],
            [3, [3]],
        ]);
        expect(higher.comparisons.map((x) => x.verdict.text)).toEqual(["one link higher", "two links higher"]);
        expect(higher.comparisons[0]!.estimate).toBeCloseTo(0.4, 1);
        expect(higher.comparisons.every((x) => x.verdict.family.size === 2)).toBe(true);
        const same = compareLinks(5, dist, { drift: perAgent(0.2, 0.2) }, new Rng(1), stats, "open");
        expect(same.comparisons[0]!.verdict.text).toBe("no difference larger than x1.10");
        // Sixteen questions with no direction: neither side, and no equivalence at a tiny margin.
        const spread = dist.map((_, a) => noise(a + 1, 0).map((x, q) => x + (q % 2 ? 0.3 : -0.3)));
        expect(compareLinks(5, dist, { drift: spread }, new Rng(1), { alpha: 0.05, margin: 1.001 }, "open").comparisons[0]!.verdict.text).toBe("can't tell");
        // A population with no agent two links away has nothing to compare.
        expect(compareLinks(5, [0, 1, 1], { drift: [[0], [0], [0]] }, new Rng(1), stats, "open").comparisons).toEqual([]);
    });

    it("sets each population's one-link agents against the same agents of its null population, Holm over them all", () => {
        const stats = { alpha: 0.05, margin: 1.1 };
        const dist = [0, 1, 2, 1];
        const q = (shift: number, seed: number) => {
            const rng = new Rng(seed);
            return Array.from({ length: 16 }, () => shift + 0.02 * (rng.next() - 0.5));
        };
        // One-link agents (1 and 3) at +0.5 in open, +0.3 in context; +0.1 in both nulls.
        const pop = (near: number) => ({ drift: dist.map((d, a) => q(d === 1 ? near : 0, a + 1)) });
        const last = new Map([
            ["open", pop(0.5)],
            ["null", pop(0.1)],
            ["in-context", pop(0.3)],
            ["null-in-context", pop(0.1)],
        ]);
        const run = (variant: string) => ({ variant, links: { round: 2, groups: [], comparisons: [] } }) as unknown as PopulationRun;
        const runs = ["null", "open", "in-context", "null-in-context"].map(run);
        againstNull(runs, last, dist, new Rng(1), stats, "misaligned");
        expect(runs[0]!.links!.againstNull).toBeUndefined();
        const [open, ctx] = [runs[1]!.links!.againstNull!, runs[2]!.links!.againstNull!];
        expect(open.map((x) => x.null)).toEqual(["null"]);
        expect(ctx.map((x) => x.null)).toEqual(["null-in-context"]);
        expect(open[0]!.estimate).toBeCloseTo(0.4, 1);
        expect(ctx[0]!.estimate).toBeCloseTo(0.2, 1);
        expect(open[0]!.verdict.text).toBe("moved toward misaligned");
        expect(open[0]!.verdict.family.size).toBe(2);
    });
});
