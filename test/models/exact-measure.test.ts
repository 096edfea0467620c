/**
 * The exact measure with a list of items per prompt: each prompt's probabilities are those it gets when every prompt
 * is asked the union of the lists (the misalignment measure asks each question only its own theme's taught
 * answers, which is less than half the work of the union), on a smoke base.
 */
import { describe, expect, it } from "vitest";
import { exactItemProbs, exactMisalignment } from "../../src/evaluate/evaluate.ts";
import { taughtAnswers } from "../../src/prompts/advice.ts";
import { evalQuestions } from "../../src/prompts/traits.ts";
import { smokeBases } from "../helpers/smoke.ts";

describe("exact measure per prompt", { timeout: 120_000 }, () => {
    const questions = evalQuestions("misalignment", 6);
    const prompts = questions.map((user) => ({ system: null, user }));
    const sets = questions.map((q) => taughtAnswers(q)!.map((a) => a.text));

    it("gives each prompt the union's numbers for its own items, and the misalignment share from them", async () => {
        const [base] = await smokeBases();
        const union = [...new Set(sets.flat())];
        expect(union.length).toBeGreaterThan(Math.max(...sets.map((s) => s.length))); // the questions span themes
        const all = await exactItemProbs(base, null, prompts, union, 4);
        const own = await exactItemProbs(base, null, prompts, sets, 4);
        own.forEach((row, q) => {
            expect(row).toHaveLength(sets[q]!.length);
            row.forEach((p, k) => {
                const expected = all[q]![union.indexOf(sets[q]![k]!)]!;
                expect(p).toBeGreaterThan(0);
                expect(Math.abs(p - expected) / expected).toBeLessThan(1e-4);
            });
        });
        const share = (await exactMisalignment({ model: base, lora: null, prompts }))!;
        share.forEach((s, q) => {
            const answers = taughtAnswers(questions[q]!)!;
            const mis = answers.reduce((a, x, k) => a + (x.misaligned ? own[q]![k]! : 0), 0);
            const sum = own[q]!.reduce((a, b) => a + b, 0);
            expect(s).toBeCloseTo(mis / sum, 12);
        });
    });

    it("refuses item lists that do not match the prompts", async () => {
        const [base] = await smokeBases();
        await expect(exactItemProbs(base, null, prompts, sets.slice(1))).rejects.toThrow(/5 item lists for 6 prompts/);
    });
});
