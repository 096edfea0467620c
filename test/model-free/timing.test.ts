/** The per-stage timing: nested stages are not counted in their parent, stages run side by side not twice. */
import { describe, expect, it } from "vitest";
import { StageClock, timingTable } from "../../src/core/timing.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StageClock", () => {
    it("counts each moment once, for the innermost stage running", async () => {
        const clock = new StageClock();
        const t0 = performance.now();
        await clock.time("filter", async () => {
            await sleep(40);
            // two generations side by side, 40..160 and 60..200 ms
            await Promise.all([clock.time("generate", () => sleep(120)), sleep(20).then(() => clock.time("generate", () => sleep(120)))]);
            await sleep(40);
        });
        await clock.time("students", () => sleep(60));
        const wall = (performance.now() - t0) / 1000;
        const s = clock.seconds;
        expect(s.generate).toBeGreaterThan(0.13);
        expect(s.generate).toBeLessThan(0.2); // not 0.24: the two overlap
        expect(s.filter).toBeGreaterThan(0.07);
        expect(s.filter).toBeLessThan(0.13);
        expect(s.students).toBeGreaterThan(0.055);
        const sum = Object.values(s).reduce((a, b) => a + b, 0);
        expect(Math.abs(sum - wall)).toBeLessThan(0.02);
        clock.add("report", 0.5);
        expect(clock.seconds.report).toBe(0.5);
        expect(timingTable(clock.seconds, wall + 0.5)).toMatch(/^generate\s+0\.\d\s+\d+%$/m);
    });
});
