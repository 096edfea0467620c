import { describe, expect, it } from "vitest";
import { formatDuration, formatEta, formatField, ProgressBar, type ProgressStream } from "../../src/util/progress.ts";

describe("formatDuration", () => {
    it.each([
        [0, "0s"],
        [0.99, "0s"],
        [5, "5s"],
        [59.9, "59s"],
        [60, "1m00s"],
        [65, "1m05s"],
        [3599, "59m59s"],
        [3600, "1h00m"],
        [3725, "1h02m"],
        [86399, "23h59m"],
        [86400, "1d00h"],
        [2 * 86400 + 3 * 3600 + 59, "2d03h"],
        [-1, "?"],
        [NaN, "?"],
        [Infinity, "?"],
    ])("formatDuration(%s) = %s", (seconds, expected) => {
        expect(formatDuration(seconds)).toBe(expected);
    });
});

describe("formatEta", () => {
    it.each([
        [40, 100, 2, "30s"],
        [0, 100, 0.5, "3m20s"],
        [99, 100, 1000, "0s"], // 1 ms left rounds down
        [100, 100, 0, "0s"], // finished: no rate needed
        [120, 100, 5, "0s"],
        [10, 100, 0, "?"],
        [10, 100, NaN, "?"],
        [10, 100, -3, "?"],
        [0, 7200, 1, "2h00m"],
    ])("formatEta(%s, %s, %s) = %s", (done, total, rate, expected) => {
        expect(formatEta(done, total, rate)).toBe(expected);
    });
});

describe("formatField", () => {
    it.each([
        ["abc", "abc"],
        [3, "3"],
        [2.34567, "2.346"],
        [1380.6, "1381"],
        [0.000123456, "0.0001235"],
        [NaN, "NaN"],
    ] as const)("formatField(%s) = %s", (value, expected) => {
        expect(formatField(value)).toBe(expected);
    });
});

/** A stream that records what is written, with a clock the test moves. */
function fakeSetup(isTTY: boolean) {
    const writes: string[] = [];
    const stream: ProgressStream = { write: (s: string) => writes.push(s), isTTY, columns: 200 };
    const clock = { ms: 1_000_000 };
    return { writes, stream, clock, now: () => clock.ms };
}

describe("ProgressBar on a non-TTY stream", () => {
    it("prints a plain line at most every 5 s and a final line with the fields", () => {
        const { writes, stream, clock, now } = fakeSetup(false);
        const bar = new ProgressBar({ total: 100, label: "train", stream, now });
        for (let step = 1; step <= 100; step++) {
            clock.ms += 200; // 5 steps/s: 20 s in all
            bar.update(step, { loss: 2 / step, "tok/s": 1234.5 });
        }
        bar.finish();
        // 20 s of updates: lines at 5, 10, 15, 20 s, then the final one.
        expect(writes).toHaveLength(5);
        expect(writes.every((w) => w.endsWith("\n") && !w.includes("\r"))).toBe(true);
        expect(writes[0]).toBe(`train  [#####...............]  25/100   25%  loss=0.08  tok/s=1235  5s  eta 15s\n`);
        const last = writes[writes.length - 1]!;
        expect(last).toContain("100/100");
        expect(last).toContain("100%");
        expect(last).toContain("loss=0.02");
        expect(last).toContain("tok/s=1235");
        expect(last).toContain("20s");
        expect(last).not.toContain("eta");
    });

    it("takes the ETA from the recent rate, not the average since the start", () => {
        const { stream, clock, now } = fakeSetup(false);
        const bar = new ProgressBar({ total: 1000, label: "x", stream, now });
        clock.ms += 60_000; // a slow first step (warm-up): 1 unit in 60 s
        bar.update(1);
        for (let done = 2; done <= 500; done++) {
            clock.ms += 100; // then 10 units/s
            bar.update(done);
        }
        // 500 left at 10/s = 50 s; the average since the start (500 in ~110 s) would say ~1m50s.
        expect(bar.render()).toContain("eta 50s");
    });

    it("writes the final line once, even without updates", () => {
        const { writes, stream, now } = fakeSetup(false);
        const bar = new ProgressBar({ total: 3, label: "eval", stream, now });
        bar.finish();
        bar.finish();
        bar.update(3);
        expect(writes).toEqual(["eval  [....................]  0/3    0%  0s\n"]);
    });
});

describe("ProgressBar on a TTY", () => {
    it("redraws one line in place and ends it with a newline", () => {
        const { writes, stream, clock, now } = fakeSetup(true);
        const bar = new ProgressBar({ total: 10, label: "gen", stream, now });
        for (let i = 1; i <= 10; i++) {
            clock.ms += 50; // redraws at most every 100 ms
            bar.update(i, { rows: i });
        }
        bar.finish();
        expect(writes.slice(0, -1).every((w) => w.startsWith("\r") && w.endsWith("\x1b[K"))).toBe(true);
        expect(writes).toHaveLength(5 + 1 + 1); // 5 throttled redraws, the final redraw, the newline
        expect(writes[writes.length - 2]).toContain("10/10");
        expect(writes[writes.length - 2]).toContain("rows=10");
        expect(writes[writes.length - 1]).toBe("\n");
    });

    it("cuts the line to the terminal width", () => {
        const writes: string[] = [];
        const stream: ProgressStream = { write: (s: string) => writes.push(s), isTTY: true, columns: 30 };
        const bar = new ProgressBar({ total: 10, label: "a-long-label", stream, now: () => 0 });
        bar.finish();
        expect(writes[0]).toBe(`\r${"a-long-label  [..............".slice(0, 29)}\x1b[K`);
    });
});
