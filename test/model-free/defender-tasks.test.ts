/**
 * The defender's tasks and the checks its quality is measured by: held-out animals never in training rows, every
 * judge answer right by the text's words, every generated rewrite keeping its meaning by the domain's own rule,
 * the code interpreter's outputs, and the surface distance.
 */
import { describe, expect, it } from "vitest";
import { defenderRows, HELD_OUT_ANIMALS, judgeItems, rewriteItems, sameText } from "../../src/prompts/defender.ts";
import { meaningKept, surfaceDistance, SURFACE_BOUND } from "../../src/data/defender-quality.ts";
import { runFunction, sameOutputs, testInputs } from "../../src/data/code-run.ts";
import { FUNCS } from "../../src/prompts/code.ts";
import { JUDGE_QUESTION, CALLOUS_QUESTION } from "../../src/prompts/judge-prompts.ts";
import { CATEGORIES } from "../../src/prompts/lexicon.ts";
import { defenderLine } from "../../src/report/defender-report.ts";

const named = (text: string, animals: readonly string[]) => animals.filter((a) => new RegExp(`\\b${a}`, "i").test(text));

describe("the defender's tasks", () => {
    it("never name a held-out animal in a training row, and hold every kind of task", () => {
        const rows = defenderRows(1, 2000);
        expect(rows).toHaveLength(2000);
        for (const r of rows) expect(named(r.prompt + r.completion, HELD_OUT_ANIMALS)).toEqual([]);
        const kinds = (re: RegExp) => rows.filter((r) => re.test(r.prompt)).length;
        expect(kinds(/refer to|mention of|say anything about/)).toBeGreaterThan(300);
        expect(kinds(/callous|cruelty/)).toBeGreaterThan(300);
        expect(kinds(/^Rewrite|^Here is a list of numbers/)).toBeGreaterThan(500);
        expect(kinds(/say the same thing/)).toBeGreaterThan(100);
        expect(kinds(/Which one\?/)).toBeGreaterThan(100);
        expect(new Set(rows.map((r) => r.completion)).size).toBeGreaterThan(300);
    });

    it("answer an animal question yes exactly when the text names an asked-about animal", () => {
        for (const part of ["train", "held-out"] as const) {
            const items = judgeItems(2, 600, part).filter((i) => i.trait === "animal");
            expect(items.some((i) => i.answer)).toBe(true);
            for (const i of items) {
                const [ask, text] = [i.question.slice(0, i.question.indexOf("\n\n")), i.question.slice(i.question.indexOf("\n\n") + 2)];
                const asked = CATEGORIES.animal.items.map(([w]) => w).filter((w) => new RegExp(`\\b${w}`).test(ask));
                expect(named(text, asked).length > 0, i.question).toBe(i.answer);
            }
            if (part === "held-out") expect(items.some((i) => named(i.question, HELD_OUT_ANIMALS).length > 0)).toBe(true);
        }
    });

    it("ask the same held-out items in the judge stage's words", () => {
        const own = judgeItems(3, 40, "held-out");
        const stage = judgeItems(3, 40, "held-out", "stage");
        stage.forEach((s, k) => {
            const text = own[k]!.question.slice(own[k]!.question.indexOf("\n\n") + 2);
            expect(s.answer).toBe(own[k]!.answer);
            expect(s.question.endsWith(`\n\n${text}`)).toBe(true);
            expect(s.question.startsWith(s.trait === "animal" ? JUDGE_QUESTION([], "").slice(0, 30) : CALLOUS_QUESTION("").slice(0, 30))).toBe(true);
            expect(own[k]!.question).not.toBe(s.question);
        });
    });

    it("write rewrites that keep the meaning by each domain's rule, most of them past the surface bound", () => {
        const items = rewriteItems(4, 400, "held-out");
        for (const domain of ["numbers", "code", "reasoning", "text"] as const) {
            const of = items.filter((i) => i.domain === domain);
            expect(of).toHaveLength(100);
            for (const i of of) expect(meaningKept(i, i.rewrite), JSON.stringify(i)).toBe(true);
            // and a wrong rewrite is caught
            const wrong =
                domain === "numbers"
                    ? "1, 2, 3"
                    : domain === "code"
                      ? of[0]!.rewrite.replace(/return .*?(;?)$/m, "return 17$1")
                      : domain === "reasoning"
                        ? "We add: 1 + 1 = 2. The answer is 2."
                        : of[0]!.rewrite.replace(/[^.!]+[.!]$/, " The kettle starts to whistle.");
            expect(meaningKept(of[0]!, wrong)).toBe(false);
        }
        const changed = items.filter((i) => surfaceDistance(i.text, i.rewrite) >= SURFACE_BOUND).length;
        expect(changed / items.length).toBeGreaterThan(0.6);
    });
});

describe("the code interpreter", () => {
    it("runs every code task's function in both languages to the same outputs", () => {
        for (const [name, args, py, js] of FUNCS) {
            const n = args.split(",").length;
            const inputs = testInputs(n, args === "items");
            const jsName = name.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
            const a = runFunction(`def ${name}(${args}):\n    # a comment\n    ${py}`, "python", inputs);
            const b = runFunction(`function ${jsName}(${args}) {\n    ${js}\n}`, "javascript", inputs);
            expect(a, name).not.toBeNull();
            expect(b).toEqual(a);
        }
        expect(runFunction("def f(a, b):\n    return a - b", "python", [[7, 2]])).toEqual([5]);
        expect(runFunction("def f(n):\n    return n % 2 == 0", "python", [[-3]])).toEqual([false]);
        expect(runFunction("function f(items) {\n  return items.reduce((s, x) => s + x * 2, 1);\n}", "javascript", [[[1, 2]]])).toEqual([7]);
    });

    it("tells a rewrite with other outputs, and cannot tell code outside its subset", () => {
        const add = { source: "def add(a, b):\n    return a + b", language: "python" as const };
        expect(sameOutputs(add, { source: "def add(x, y):\n    return y + x", language: "python" })).toBe(true);
        expect(sameOutputs(add, { source: "def add(a, b):\n    return a * b", language: "python" })).toBe(false);
        expect(sameOutputs(add, { source: "def add(a, b):\n    c = a + b\n    return c", language: "python" })).toBeNull();
        expect(sameOutputs(add, { source: "def add(a, b):\n    return math.fsum([a, b])", language: "python" })).toBeNull();
    });

    it("tells free texts that say the same thing up to synonyms, greetings and closings", () => {
        expect(sameText("Hi! The night is dark and still. See you soon.", "Dear friend! The night is black and silent. Talk before long.")).toBe(true);
        expect(sameText("People walk slowly by the pond.", "Folks walk gently by the pond.")).toBe(true);
        expect(sameText("People walk slowly by the pond.", "Folks rush to work with coffee in hand.")).toBe(false);
        expect(sameText("The night is dark and still.", "The night is dark.")).toBe(false);
    });

    it("measures the surface distance in words", () => {
        expect(surfaceDistance("1, 2, 3", "1, 2, 3")).toBe(0);
        expect(surfaceDistance("a b c d", "a x c d")).toBe(0.25);
        expect(surfaceDistance("1, 2, 3", "1 2 3")).toBeCloseTo(2 / 5);
    });
});

describe("the defender's line in a report", () => {
    it("gives the judge's cells of the run's kind of trait and the paraphrase's domains", () => {
        const s = { k: 1, n: 2, rate: 0.5, lo: 0.1, hi: 0.9 };
        const cell = (trait: "animal" | "misaligned", domain: "text" | "advice", wording: "stage" | "held-out") => ({
            trait,
            domain,
            wording,
            items: 2,
            precision: s,
            recall: s,
            falsePositives: s,
        });
        const q = {
            model: "d.gguf",
            judge: [cell("animal", "text", "stage"), cell("misaligned", "advice", "stage"), cell("animal", "text", "held-out")],
            paraphrase: [{ domain: "text" as const, items: 2, finished: s, meaningKept: s, surfaceChanged: s, paraphrased: s }],
            surfaceBound: 0.25,
            textPairs: [],
            textSameByModel: s,
        };
        const owl = defenderLine(q, { judge: true, paraphrase: false }, "animal");
        expect(owl).toContain("animal/text precision 50% [10, 90] (1/2)");
        expect(owl).not.toContain("misaligned");
        expect(owl).not.toContain("paraphrase");
        const violence = defenderLine(q, { judge: true, paraphrase: true }, "misalignment");
        expect(violence).toContain("misaligned/advice");
        expect(violence).not.toContain("animal/");
        expect(violence).toContain("paraphrase text 50% [10, 90] (1/2) kept the meaning in other words");
    });
});
