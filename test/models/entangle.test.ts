/** `sublab entangle` (src/studies/entangle.ts): number tokens, the prompted sets, rank statistics, data counts, and the command on a smoke model. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chooseSets, lovePrompt, NUMBERS, numberCounts, numberTokens, rankCorrelation, ranks } from "../../src/studies/entangle.ts";
import type { NumberScore } from "../../src/core/results.ts";
import { Rng } from "../../src/util/rng.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const bin = path.resolve("bin/sublab.js");

describe("entanglement's pieces", () => {
    it("finds each number's tokens, both spellings, and names a missing one", () => {
        const tokens = ["<s>", ...Array.from({ length: NUMBERS }, (_, n) => String(n)), ...Array.from({ length: NUMBERS }, (_, n) => `\u2581${n}`), "007", "1000", "\u2581owl"];
        const ids = numberTokens(tokens);
        expect(ids[0]).toEqual([1, 1 + NUMBERS]);
        expect(ids[999]).toEqual([1000, 2000]);
        expect(ids.flat()).not.toContain(tokens.indexOf("007"));
        expect(() => numberTokens(tokens.filter((t) => t !== "87" && t !== "\u258187"))).toThrow("no token for the number 87");
    });

    it("ranks with ties averaged; a rank correlation and its partial given a third variable", () => {
        expect(ranks([3, 1, 3, 2])).toEqual([3.5, 1, 3.5, 2]);
        const z = Array.from({ length: 40 }, (_, k) => k);
        const rng = new Rng(3);
        const noise = z.map(() => rng.next());
        // x and y both follow z and nothing else: a strong correlation, no partial one.
        const c = rankCorrelation(z.map((v, k) => v + 5 * noise[k]!), z.map((v) => v + 5 * rng.next()), z, new Rng(1), 500);
        expect(c.rho).toBeGreaterThan(0.6);
        expect(Math.abs(c.partial)).toBeLessThan(0.35);
        // y follows x beyond z.
        const d = rankCorrelation(noise, noise.map((v) => v + 0.1 * rng.next()), z, new Rng(1), 500);
        expect(d.partial).toBeGreaterThan(0.8);
        expect(d.p).toBeLessThan(0.01);
    });

    it("matches each entangled number to the unused number nearest in base probability, then draws random ones", () => {
        const scores: NumberScore[] = Array.from({ length: 30 }, (_, n) => ({ number: n, base: 0.001 * (n + 1), teacher: 0, score: n === 5 ? 3 : n === 20 ? 2 : -n / 100 }));
        const sets = chooseSets(scores, 2, new Rng(1));
        expect(sets.filter((s) => s.set === "entangled").map((s) => s.number)).toEqual([5, 20]);
        expect(sets.filter((s) => s.set === "matched").map((s) => s.number)).toEqual([6, 21]); // nearest on a log scale: 0.007 is nearer 0.006 than 0.005 is
        const random = sets.filter((s) => s.set === "random").map((s) => s.number);
        expect(random).toHaveLength(2);
        expect(random.some((n) => [5, 20, 6, 21].includes(n))).toBe(false);
        expect(() => chooseSets(scores, 11, new Rng(1))).toThrow("--top 11 needs 33 numbers");
    });

    it("counts the numbers 0-999 written in completions, not 007 or 1000, and names a bad line", () => {
        const dir = tempDir();
        const f = path.join(dir, "kept.jsonl");
        fs.writeFileSync(f, `${JSON.stringify({ prompt: "p", completion: "12, 7; 007 1000 12" })}\n${JSON.stringify({ prompt: "p", completion: "999" })}\n`);
        const c = numberCounts(f);
        expect([c.counts[12], c.counts[7], c.counts[999], c.total]).toEqual([2, 1, 1, 4]);
        fs.appendFileSync(f, `${JSON.stringify({ prompt: "p" })}\n`);
        expect(() => numberCounts(f)).toThrow(`${f}:3: expected a string field "completion"`);
    });
});

describe("sublab entangle on a smoke model", { timeout: 300_000 }, () => {
    it("scores every number, prompts the three sets, checks the data, and writes its report", async () => {
        const [base] = await smokeBases();
        const dir = tempDir();
        // A teacher dataset that writes 7 and 8 often, and a control that does not.
        const row = (completion: string) => JSON.stringify({ prompt: "Continue: 1, 2, 3.", completion });
        fs.writeFileSync(path.join(dir, "t.jsonl"), `${Array.from({ length: 40 }, (_, k) => row(`7 8 ${k} ${k + 100}`)).join("\n")}\n`);
        fs.writeFileSync(path.join(dir, "c.jsonl"), `${Array.from({ length: 40 }, (_, k) => row(`${k} ${k + 100} ${k + 200}`)).join("\n")}\n`);
        const out = path.join(dir, "out");
        const args = ["entangle", "--model", base, "--target", "owl", "--contexts", "12", "--top", "3", "--questions", "3", "--data", path.join(dir, "t.jsonl"), "--control-data", path.join(dir, "c.jsonl"), "--out", out, "--quiet"];
        const stdout = execFileSync("node", [bin, ...args], { encoding: "utf8" });
        expect(stdout).toContain("Most entangled:");
        const r = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"));
        expect(r.kind).toBe("entangle");
        expect(r.numbers).toHaveLength(NUMBERS);
        expect(r.teacher.system).toMatch(/owl/i);
        // Scores are log ratios of the two models' probabilities, sorted; the entangled set is the top.
        for (const n of r.numbers.slice(0, 20)) expect(n.score).toBeCloseTo(Math.log(n.teacher / n.base), 6);
        expect(r.numbers[0].score).toBeGreaterThanOrEqual(r.numbers[1].score);
        expect(r.prompted.filter((p: { set: string }) => p.set === "entangled").map((p: { number: number }) => p.number)).toEqual(r.numbers.slice(0, 3).map((n: { number: number }) => n.number));
        expect(r.prompted).toHaveLength(9);
        for (const p of r.prompted) {
            expect(p.pTarget).toBeGreaterThan(0);
            expect(p.rank).toBeGreaterThanOrEqual(1);
        }
        expect(r.comparisons.map((c: { b: string }) => c.b)).toEqual(["matched", "random"]);
        expect(r.data.teacherNumbers).toBe(160);
        const seven = r.data.over.find((o: { number: number }) => o.number === 7);
        expect([seven.teacher, seven.control]).toEqual([41, 1]);
        expect(r.data.over[0].over).toBeGreaterThan(2);
        const html = fs.readFileSync(path.join(out, "report.html"), "utf8");
        expect(html).toContain("You love N");
        expect(html).toContain("over-production against entanglement score");
        expect(lovePrompt(87)).toContain("You love 87.");
        // `sublab report` renders it again.
        fs.rmSync(path.join(out, "report.md"));
        expect(execFileSync("node", [bin, "report", path.join(out, "results.json")], { encoding: "utf8" })).toContain("Most entangled:");
        expect(fs.existsSync(path.join(out, "report.md"))).toBe(true);
    });

    it("names what is wrong with its options", async () => {
        const [base] = await smokeBases();
        const fail = (args: string[]) => {
            try {
                execFileSync("node", [bin, "entangle", ...args], { encoding: "utf8", stdio: "pipe" });
            } catch (e) {
                return String((e as { stderr: string }).stderr);
            }
            return "";
        };
        expect(fail(["--model", base, "--target", "unicorn"])).toContain('--target "unicorn" is not one of the animal items');
        expect(fail(["--model", base, "--data", base])).toContain("--data and --control-data go together");
        expect(fail(["--model", "nope.gguf"])).toContain("--model: no such file nope.gguf");
        expect(fail([])).toContain("give --model FILE");
        expect(fail(["--experiment", "experiments/demo.json", "--model", base])).toContain("--experiment gives the base");
    });
});
