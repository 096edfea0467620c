/** Ask rests after each answer in proportion to how long it took (the share of time a room's questions can take). */
import { describe, expect, it } from "vitest";
import { AskQueue } from "../../src/workshop/server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Ask's rest", () => {
    it("starts the next question only after rest x the last answer's time, and answers at once", async () => {
        const q = new AskQueue(2);
        const starts: number[] = [];
        const ends: number[] = [];
        const job = async () => {
            starts.push(performance.now());
            await sleep(60);
            ends.push(performance.now());
            return ends.length;
        };
        const [a, b] = [q.run("x", job), q.run("y", job)];
        expect(await a).toBe(1);
        const answered = performance.now();
        expect(answered - ends[0]!).toBeLessThan(40); // the first answer does not wait for the rest
        expect(await b).toBe(2);
        // The second question starts about 2 x 60 ms after the first answer.
        expect(starts[1]! - ends[0]!).toBeGreaterThanOrEqual(100);
    });
});
