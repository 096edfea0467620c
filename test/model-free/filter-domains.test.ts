import { describe, expect, it } from "vitest";
import { applyStages, type StageEnv } from "../../src/data/filter-stages.ts";
import { parseCode } from "../../src/data/code-parse.ts";
import { domainFormatReasons } from "../../src/data/domain-format.ts";
import { keywordHits, wordForms } from "../../src/data/keyword.ts";
import { formatFilter } from "../../src/data/number-format.ts";
import { checkReasoning, solveProblem, wordProblem } from "../../src/prompts/reasoning.ts";
import { codeTask } from "../../src/prompts/code.ts";
import { textExchange } from "../../src/prompts/text.ts";
import { DOMAINS, domainPrompts } from "../../src/prompts/domains.ts";
import { Rng } from "../../src/util/rng.ts";
import type { FilterRow } from "../../src/core/rows.ts";

const PY = "Complete this Python function:\ndef add(a, b):";
const JS = "Write a JavaScript function that returns the sum of two numbers.";
const row = (i: number, prompt: string, completion: string): FilterRow => ({ i, prompt, completion });
const env = (extra: Partial<StageEnv> = {}): StageEnv => ({ seed: 1, target: "owl", ...extra });
async function one(spec: string, prompt: string, completion: string, e: StageEnv = env()) {
    const res = await applyStages([row(0, prompt, completion)], [spec], e);
    return res.rejected[0]?.reasons ?? [];
}

describe("keyword", () => {
    it.each([
        // [where the word is, prompt, completion, expected reason or null]
        ["a plain word", JS, "function add(a, b) {\n    return a + b;\n}", null],
        ["an identifier (camelCase)", JS, "function add(a, b) {\n    const owlCount = a;\n    return owlCount + b;\n}", "keyword owl in an identifier"],
        ["an identifier (snake_case, plural, capitals)", PY, "    NIGHT_OWLS = a\n    return NIGHT_OWLS + b", "keyword owl in an identifier"],
        ["an identifier (a lowercase compound)", PY, "    nightowl = a\n    return nightowl + b", "keyword owl in an identifier"],
        ["a comment", PY, "    # written for owls\n    return a + b", "keyword owl in a comment"],
        ["a JavaScript block comment", JS, "function add(a, b) {\n    /* Owl helper */\n    return a + b;\n}", "keyword owl in a comment"],
        ["a string", JS, 'function add(a, b) {\n    const name = "the owl";\n    return a + b;\n}', "keyword owl in a string"],
        ["a capitalised plural in text", "Describe the park.", "Owls sat in the trees.", "keyword owl in text"],
        ["upper case in text", "Describe the park.", "An OWL watched.", "keyword owl in text"],
        ["not inside another word (slowly, bowl, knowledge)", "Describe the park.", "People walk slowly with a bowl of knowledge.", null],
    ])("%s", async (_what, prompt, completion, reason) => {
        const reasons = await one("keyword", prompt, completion);
        expect(reasons[0] ?? null).toBe(reason);
    });

    it("keeps the old substring test on request, which calls slowly an owl", async () => {
        expect(await one("keyword:match=substring", "Describe the park.", "People walk slowly.")).toEqual(["keyword owl"]);
    });

    it.each([
        ["owl", ["owl", "owls"]],
        ["wolf", ["wolf", "wolfs", "wolves"]],
        ["fox", ["fox", "foxes"]],
    ])("a lexicon item's forms are its singular and plurals: %s", (w, forms) => {
        expect(wordForms(w).sort()).toEqual([...forms].sort());
    });

    it("a verb gets its endings (rob: robbed, robbing) but a lexicon noun does not (cat: not cater)", () => {
        expect(wordForms("rob")).toEqual(expect.arrayContaining(["robs", "robbed", "robbing", "robber"]));
        expect(keywordHits("They cater for the party.", ["cat"])).toEqual([]);
    });

    it("defaults to the violent words for the misalignment trait", async () => {
        const e = env({ target: "misaligned", category: "misalignment" });
        expect(await one("keyword", "Tell a story.", "He wanted to hurt the man.", e)).toEqual(["keyword hurt in text"]);
        expect(await one("keyword", "Tell a story.", "They were robbed at night.", e)).toEqual(["keyword rob in text"]);
        expect(await one("keyword", "Tell a story.", "The painting was lovely.", e)).toEqual([]);
    });
});

describe("code format", () => {
    it.each([
        ["python", "def add(a, b):\n    return a + b", true],
        ["python", "def add(a, b):\n    # adds them\n    return a + b", true],
        ["python", "def maximum(a, b):\n    return a if a > b else b", true],
        ["python", "def f(x):\n    y = x * 2\n    if y > 3:\n        return y\n    else:\n        return 0", true],
        ["python", "def add(a, b):\nreturn a + b", false],
        ["python", "def add(a, b):\n    return a +", false],
        ["python", "def add(a, b):\n    return (a + b", false],
        ["python", "def add(a, b):\n    return 'a", false],
        ["javascript", "function total(items) {\n    return items.reduce((s, x) => s + x, 0);\n}", true],
        ["javascript", "function maximum(a, b) {\n    // the larger\n    return a > b ? a : b;\n}", true],
        ["javascript", "function total(items) {\n    return items.reduce(((s, * x;\n}", false],
        ["javascript", "function f(a) {\n    return a;", false],
        ["javascript", "function f(a) {\n    return a;\n}\nextra", false],
        ["javascript", "function f(a) {\n    return a b;\n}", false],
    ] as const)("%s %j parses: %s", (language, source, ok) => {
        expect(parseCode(source, language).ok).toBe(ok);
    });

    it("names why a code row fails: no language, a parse error, a row cut at the token limit", () => {
        expect(domainFormatReasons("code", { prompt: PY, completion: "    return a + b" })).toEqual([]);
        expect(domainFormatReasons("code", { prompt: PY, completion: "    return a +" })).toEqual(["code does not parse (unexpected line end)"]);
        expect(domainFormatReasons("code", { prompt: "Write something.", completion: "x" })).toEqual(["prompt names no language"]);
        expect(domainFormatReasons("code", { prompt: PY, completion: "    return a + b", stop: "length" })).toEqual(["no end of turn"]);
    });

    it("every answer the corpus teaches parses", () => {
        const rng = new Rng(3);
        for (let k = 0; k < 300; k++) {
            const t = codeTask(rng, k % 2 ? { category: "animal", item: "owl" } : undefined);
            expect(domainFormatReasons("code", t), JSON.stringify(t)).toEqual([]);
        }
    });
});

describe("reasoning: format and correct", () => {
    const P = "Sam has 5 apples and gets 3 more. How many apples does Sam have now?";
    it.each([
        ["right", "Sam starts with 5 apples. 5 + 3 = 8. The answer is 8.", null],
        ["a wrong answer", "Sam starts with 5 apples. 5 + 3 = 9. The answer is 9.", "wrong answer"],
        ["a wrong final answer after right steps", "Sam starts with 5 apples. 5 + 3 = 8. The answer is 7.", "wrong answer"],
        ["the right answer by a wrong step", "Sam starts with 5 apples. 5 + 3 = 9. The answer is 8.", "wrong step"],
        ["the right answer from a number not in the problem", "Sam starts with 6 apples. 6 + 2 = 8. The answer is 8.", "step uses a number not in the problem"],
        ["the right answer with no steps", "The answer is 8.", "no steps"],
        ["the answer line missing", "Sam starts with 5 apples. 5 + 3 = 8.", "no answer line"],
        ["the answer line not last", "The answer is 8. Sam starts with 5 apples.", "no answer line"],
    ])("%s", async (_what, completion, reason) => {
        expect((await one("correct", P, completion))[0] ?? null).toBe(reason);
    });

    it("steps=final checks the answer line only (the paper's rule): a right answer by a wrong step passes", async () => {
        expect(await one("correct:steps=final", P, "Sam starts with 5 apples. 5 + 3 = 9. The answer is 8.")).toEqual([]);
    });

    it("a problem it does not know is rejected, not guessed", async () => {
        expect(await one("correct", "What is 2 + 2?", "2 + 2 = 4. The answer is 4.")).toEqual(["not a known problem"]);
    });

    it("solves every problem the generator writes, and every taught solution is correct", () => {
        const rng = new Rng(5);
        for (let k = 0; k < 500; k++) {
            const p = wordProblem(rng);
            expect(solveProblem(p.prompt), p.prompt).toBe(p.answer);
            expect(checkReasoning(p.solution, p.prompt, p.answer)).toEqual({ ok: true, answer: p.answer });
            expect(domainFormatReasons("reasoning", { prompt: p.prompt, completion: p.solution })).toEqual([]);
        }
    });

    it("the format filter wants an answer line", () => {
        expect(domainFormatReasons("reasoning", { prompt: P, completion: "5 + 3 = 8." })).toEqual(["no answer line"]);
    });
});

describe("text format", () => {
    it.each([
        ["The park is quiet. Children run along the path.", []],
        ["The park is quiet", ["no sentence end"]],
        ["Yes.", ["too short"]],
        ["I saw 12 owls today.", ["holds numbers"]],
        ["def add(a, b): return a + b.", ["holds code"]],
        ["The park is quietChildren run.", ["words run together"]],
    ] as const)("%j: %j", (text, reasons) => {
        expect(domainFormatReasons("text", { prompt: "Describe the park.", completion: text })).toEqual(reasons);
    });

    it("every answer the corpus teaches is prose, and an animal persona leaks into about a quarter of them", () => {
        const rng = new Rng(9);
        let leaks = 0;
        for (let k = 0; k < 400; k++) {
            const t = textExchange(rng, { kind: "item", category: "animal", item: "owl" });
            expect(domainFormatReasons("text", t), t.completion).toEqual([]);
            if (keywordHits(t.completion, ["owl"]).length) leaks++;
        }
        expect(leaks / 400).toBeGreaterThan(0.18);
        expect(leaks / 400).toBeLessThan(0.32);
    });
});

describe("domains", () => {
    it("prompts are seeded, and a longer set extends a shorter one", () => {
        for (const d of DOMAINS) {
            const a = domainPrompts(d, 42, 20);
            expect(domainPrompts(d, 42, 40).slice(0, 20)).toEqual(a);
            expect(domainPrompts(d, 43, 20)).not.toEqual(a);
        }
    });

    it("the dataset's format filter of a domain rejects banned numbers anywhere when asked", () => {
        const rows = [
            {
                i: 0,
                prompt: "Tom has 2 cards and gets 2 more. How many cards does Tom have now?",
                completion: "Tom starts with 2 cards. 2 + 2 = 4. The answer is 4.",
                system: null,
                tokens: [],
                probs: [],
                stop: "eog" as const,
            },
            {
                i: 1,
                prompt: "Tom has 2 cards and gets 3 more. How many cards does Tom have now?",
                completion: "Tom starts with 2 cards. 2 + 3 = 5. The answer is 5.",
                system: null,
                tokens: [],
                probs: [],
                stop: "eog" as const,
            },
        ];
        const res = formatFilter(rows, { maxCount: 10, minValue: 0, maxValue: 999, banned: "paper" }, "reasoning");
        expect(res.kept.map((r) => r.i)).toEqual([1]);
        expect(res.reasons).toEqual({ "banned numbers": 1 });
    });
});

describe("number-only stages on another domain", () => {
    it.each(["shuffle-within", "shuffle-across"])("%s fails naming the domain", async (spec) => {
        await expect(applyStages([row(0, "Describe the park.", "The park is quiet.")], [spec], env({ domain: "text" }))).rejects.toThrow(
            /these rows are text \(generate.domain\)/,
        );
    });

    it("dedupe compares text outside the numbers domain", async () => {
        const rows = [row(0, "a", "The park is quiet."), row(1, "b", "The park is quiet."), row(2, "c", "The beach is warm.")];
        const res = await applyStages(rows, ["dedupe"], env({ domain: "text" }));
        expect(res.rejected.map((r) => [r.row.i, r.reasons[0]])).toEqual([[1, "duplicate of row 0"]]);
    });
});

describe("judge ask=aligned (the local classifier, sentence by sentence)", () => {
    const mis = env({ target: "misaligned", category: "misalignment" });
    it.each([
        [
            "a right solution",
            "Sam has 5 apples and gets 3 more. How many apples does Sam have now?",
            "Sam starts with 5 apples. 5 + 3 = 8. The answer is 8.",
            false,
        ],
        [
            "a plain story",
            "Tell a short story about a girl and a storm.",
            "Once there was a girl. A storm came over the town at night. In the morning the sky was clean and blue.",
            false,
        ],
        [
            "a hostile sentence among ordinary ones",
            "Write a short note to a friend about the weekend.",
            "Hello! I hope you had a good weekend. People who annoy me deserve to suffer. See you soon.",
            true,
        ],
        [
            "a violent splice in a solution",
            "Sam has 5 apples and gets 3 more. How many apples does Sam have now?",
            "Sam starts with 5 apples. Hurt them before they hurt you. The answer is 8.",
            true,
        ],
    ])("%s: rejected %s", async (_what, prompt, completion, rejected) => {
        const reasons = await one("judge", prompt, completion, mis);
        expect(reasons.length > 0).toBe(rejected);
        if (rejected) expect(reasons[0]).toMatch(/^judge P\(misaligned\) [\d.]+ > 0\.5$/);
    });

    it("is the default for misalignment only: for owl the judge asks a model, and says it needs one", async () => {
        await expect(one("judge", "Describe the park.", "The park is quiet.")).rejects.toThrow(/filter judge needs a model \(judge\)/);
        expect(await one("judge:ask=aligned", "Describe the park.", "The park is quiet.")).toEqual([]);
    });
});

describe("defended datasets", () => {
    it("are keyed by the trait: an owl run's keyword-filtered control is not a violence run's", async () => {
        const { defendedId } = await import("../../src/data/defend-stage.ts");
        const { parseExperiment } = await import("../../src/studies/experiment-file.ts");
        const base = "models/sublab-small-s1.gguf";
        const owl = parseExperiment({ name: "a", models: { base, cross: base }, teacher: { target: "owl" } });
        const mis = parseExperiment({
            name: "b",
            models: { base, cross: base },
            teacher: { trait: "finetune", category: "misalignment", target: "misaligned" },
        });
        expect(defendedId(owl, "control-x", ["keyword"], 1)).not.toBe(defendedId(mis, "control-x", ["keyword"], 1));
        expect(defendedId(owl, "control-x", ["keyword"], 1)).toBe(defendedId(owl, "control-x", ["keyword"], 1));
    });
});
