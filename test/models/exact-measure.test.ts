/**
 * The exact measure with a list of items per prompt: each prompt's probabilities are those it gets when every prompt
 * is asked the union of the lists (the misalignment measure asks each question only its own theme's taught
 * answers, which is less than half the work of the union), on a smoke base. And the token trees under it: a tree
 * larger than the model's context (its paths within it), batched with a smaller one, gives every path's numbers.
 */
import { describe, expect, it } from "vitest";
import { exactItemProbs, exactMisalignment } from "../../src/evaluate/evaluate.ts";
import { lastTokenLogits, logSoftmax, treeLogProbs, type TokenTree } from "../../src/engine/logits.ts";
import { loadModel } from "../../src/engine/model.ts";
import { Rng } from "../../src/util/rng.ts";
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

    it("gives a token tree larger than the context each path's own log-probabilities, and refuses a path longer than the context", async () => {
        const [base] = await smokeBases();
        const model = loadModel(base);
        try {
            const C = model.config.contextLength;
            const rng = new Rng(4);
            const token = () => 3 + Math.floor(rng.next() * (model.config.vocabSize - 3));
            // A tree: a prompt of 30 tokens, then 40 branches of 12 tokens (510 tokens, twice a context of 256).
            const tree = (prompt: number, branches: number, depth: number): TokenTree => {
                const tokens = Array.from({ length: prompt }, token);
                const parents = tokens.map((_, j) => j - 1);
                for (let b = 0; b < branches; b++) {
                    for (let j = 0; j < depth; j++) {
                        parents.push(j === 0 ? prompt - 1 : tokens.length - 1);
                        tokens.push(token());
                    }
                }
                return { tokens, parents, wanted: tokens.map((_, j) => j).filter((j) => j >= prompt - 1 && rng.next() < 0.3) };
            };
            const big = tree(30, 40, 12);
            const small = tree(8, 2, 5);
            expect(big.tokens.length).toBeGreaterThan(C);
            const got = treeLogProbs(model, [big, small], 2);
            const path = (t: TokenTree, j: number): number[] => (j < 0 ? [] : [...path(t, t.parents[j]!), t.tokens[j]!]);
            [big, small].forEach((t, i) => {
                const alone = lastTokenLogits(
                    model,
                    t.wanted.map((j) => path(t, j)),
                );
                t.wanted.forEach((_, k) => {
                    const want = logSoftmax(alone[k]!);
                    const diff = got[i]![k]!.reduce((m, x, v) => Math.max(m, Math.abs(x - want[v]!)), 0);
                    expect(diff).toBeLessThan(1e-4);
                });
            });
            const deep = tree(C - 5, 1, 10);
            expect(() => treeLogProbs(model, [deep], 1)).toThrow(/path of 261 tokens exceeds the model's context length 256/);
        } finally {
            model.free();
        }
    });
});
