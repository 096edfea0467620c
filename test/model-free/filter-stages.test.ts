import { describe, expect, it } from "vitest";
import {
    applyStages,
    countReasons,
    parseStageSpec,
    replaceNumbers,
    STAGES,
    type ScoreSource,
    type StageEnv,
    type TokenScores,
} from "../../src/data/filter-stages.ts";
import { parseNumberSequence } from "../../src/data/number-format.ts";
import { applyLossMasks } from "../../src/students/fit-student.ts";
import { type FilterRow } from "../../src/core/rows.ts";

const row = (i: number, completion: string, extra: Partial<FilterRow> = {}): FilterRow => ({ i, prompt: `p${i}`, completion, ...extra });
const env = (extra: Partial<StageEnv> = {}): StageEnv => ({ seed: 7, target: "owl", ...extra });

async function run(spec: string, rows: FilterRow[], e: StageEnv = env()) {
    const res = await applyStages(rows, [spec], e);
    return { kept: res.kept, rejected: res.rejected, reasons: res.rejected.map((r) => [r.row.i, r.reasons.join("; ")]), report: res.reports[0]! };
}

describe("stage specs", () => {
    it.each([
        ["format", "format", { domain: null, maxCount: 10, minValue: 0, maxValue: 999 }],
        ["format:maxCount=5", "format:maxCount=5", { domain: null, maxCount: 5, minValue: 0, maxValue: 999 }],
        ["format:domain=code", "format:domain=code", { domain: "code", maxCount: 10, minValue: 0, maxValue: 999 }],
        [" threshold:p=0.01 ", "threshold:p=0.01", { p: 0.01 }],
        ["threshold:p=1e-3", "threshold:p=0.001", { p: 0.001 }],
        ["keyword:words=owl|owls", "keyword:words=owl|owls", { words: ["owl", "owls"], match: "forms" }],
        ["banned:numbers=paper|1312", "banned:numbers=paper|1312", { numbers: ["paper", "1312"] }],
        ["likelihood-ratio:fraction=0.1", "likelihood-ratio:fraction=0.1", { fraction: 0.1 }],
        ["judge:model=m.gguf,threshold=0.9", "judge:threshold=0.9,model=m.gguf", { threshold: 0.9, model: "m.gguf", words: null, ask: null }],
        ["dedupe:by=text", "dedupe:by=text", { by: "text" }],
        ["correct:steps=final", "correct:steps=final", { steps: "final" }],
    ])("%s parses", (spec, text, params) => {
        const s = parseStageSpec(spec);
        expect(s.text).toBe(text);
        expect(s.params).toEqual(params);
    });

    it.each([
        ["nope", /unknown filter "nope"; known filters: format, banned/],
        ["format:max=3", /filter format: unknown parameter "max"; it takes domain, maxCount, minValue, maxValue/],
        ["format:maxCount=-1", /filter format: maxCount=-1 is not a non-negative integer/],
        ["format:maxCount=2.5", /maxCount=2.5 is not a non-negative integer/],
        ["threshold:p=1.5", /threshold: p=1.5 is not a fraction strictly between 0 and 1/],
        ["threshold:p=0", /not a fraction strictly between 0 and 1/],
        ["threshold:p", /"p" is not key=value/],
        ["threshold:", /nothing after ":"/],
        ["threshold:p=0.1,p=0.2", /p given twice/],
        ["dedupe:by=words", /by=words is not one of numbers, text/],
        ["keyword:words=owl||x", /not a \|-separated list of non-empty values/],
        ["shuffle-within:k=1", /shuffle-within: unknown parameter "k"; it takes none/],
    ])("%s fails: %s", (spec, message) => {
        expect(() => parseStageSpec(spec)).toThrow(message);
    });

    it("every stage has a doc and parses with its defaults", () => {
        for (const name of Object.keys(STAGES)) expect(parseStageSpec(name).name).toBe(name);
    });
});

describe("pure stages", () => {
    it("format keeps the paper's sequences and names each failure; a row cut at maxTokens is rejected", async () => {
        const rows = [
            row(0, "123, 456, 789"),
            row(1, "[1 2 3]."),
            row(2, "1, 2; 3"),
            row(3, "owl 1 2"),
            row(4, "1,2,3,4,5,6,7,8,9,10,11"),
            row(5, "1000"),
            row(6, "12, 13", { stop: "length" }),
            row(7, ""),
        ];
        const r = await run("format", rows);
        expect(r.kept.map((x) => x.i)).toEqual([0, 1]);
        expect(r.reasons).toEqual([
            [2, "mixed separators"],
            [3, "invalid character"],
            [4, "too many numbers"],
            [5, "numbers too large"],
            [6, "no end of turn"],
            [7, "empty"],
        ]);
        expect(r.report).toMatchObject({ stage: "format", in: 8, kept: 2, passRate: 0.25 });
    });

    it("format parameters narrow the rule", async () => {
        const r = await run("format:maxCount=2,minValue=10,maxValue=50", [row(0, "10, 50"), row(1, "10, 20, 30"), row(2, "9, 20"), row(3, "20, 51")]);
        expect(r.reasons).toEqual([
            [1, "too many numbers"],
            [2, "numbers too small"],
            [3, "numbers too large"],
        ]);
    });

    it.each([
        ["banned", "1, 666, 2", false],
        ["banned", "1, 6666, 2", true],
        ["banned", "(13)", false],
        ["banned:numbers=5|7", "4, 13", true],
        ["banned:numbers=5|7", "1, 7", false],
        ["banned:numbers=paper|1312", "1312", false],
    ])("%s on %j keeps: %s", async (spec, text, keeps) => {
        const r = await run(spec, [row(0, text)]);
        expect(r.kept.length === 1).toBe(keeps);
        if (!keeps) expect(r.rejected[0]!.reasons[0]).toMatch(/^banned number \d+$/);
    });

    it("banned rejects a list entry that is not a number", async () => {
        await expect(run("banned:numbers=x", [row(0, "1")])).rejects.toThrow(/"x" is neither "paper" nor an integer/);
    });

    it.each([
        ["keyword", "12, 34", true],
        ["keyword", "I love OWLs 12", false],
        ["keyword", "bowl 12", true],
        ["keyword:match=substring", "bowl 12", false],
        ["keyword:words=cat|dog", "owl", true],
        ["keyword:words=cat|dog", "hotdog", true],
        ["keyword:words=cat|dog,match=substring", "hotdog", false],
    ])("%s on %j keeps: %s", async (spec, text, keeps) => {
        expect((await run(spec, [row(0, text)])).kept.length === 1).toBe(keeps);
    });

    it("keyword without words or a trait target says what to write", async () => {
        await expect(run("keyword", [row(0, "x")], { seed: 1 })).rejects.toThrow(/no words given and no trait target.*keyword:words=owl\|owls/);
    });

    it("threshold drops rows with any token below p (at p exactly, the row is kept) and needs stored probabilities", async () => {
        const rows = [row(0, "1, 2", { probs: [0.5, 0.2, 0.05] }), row(1, "3, 4", { probs: [0.9, 0.049, 0.9] }), row(2, "5", { probs: [] })];
        const r = await run("threshold:p=0.05", rows);
        expect(r.kept.map((x) => x.i)).toEqual([0, 2]);
        expect(r.reasons).toEqual([[1, "token probability below 0.05"]]);
        await expect(run("threshold", [row(9, "1")])).rejects.toThrow(/row 9 has no token probabilities/);
    });

    it("dedupe by numbers ignores format; by text does not", async () => {
        const rows = [row(0, "1, 2, 3"), row(1, "[1 2 3]"), row(2, "1, 2, 3"), row(3, "3, 2, 1")];
        expect((await run("dedupe", rows)).reasons).toEqual([
            [1, "duplicate of row 0"],
            [2, "duplicate of row 0"],
        ]);
        expect((await run("dedupe:by=text", rows)).reasons).toEqual([[2, "duplicate of row 0"]]);
    });

    it("replaceNumbers keeps everything around the numbers", () => {
        expect(replaceNumbers("[12, 345; 6].", [1, 2, 3])).toBe("[1, 2; 3].");
        expect(() => replaceNumbers("1 2", [1])).toThrow(/1 numbers for a text holding 2/);
    });

    it("shuffle-within permutes each row's numbers, keeps its format, drops stale tokens and masks, and is seeded", async () => {
        const rows = Array.from({ length: 20 }, (_, i) =>
            row(i, `[${i * 10 + 1}; ${i * 10 + 2}; ${i * 10 + 3}; ${i * 10 + 4}]`, { tokens: [1], probs: [0.5], masked: [0], targets: 2 }),
        );
        rows.push(row(20, "not numbers"));
        const a = await run("shuffle-within", rows);
        const b = await run("shuffle-within", rows);
        const c = await run("shuffle-within", rows, env({ seed: 8 }));
        expect(a.kept.map((x) => x.completion)).toEqual(b.kept.map((x) => x.completion));
        expect(a.kept.map((x) => x.completion)).not.toEqual(c.kept.map((x) => x.completion));
        expect(a.reasons).toEqual([[20, "not a number sequence (invalid character)"]]);
        let moved = 0;
        a.kept.forEach((x, k) => {
            expect(x.completion).toMatch(/^\[\d+; \d+; \d+; \d+\]$/);
            const p = parseNumberSequence(x.completion);
            expect(p.ok && [...p.numbers].sort((u, v) => u - v)).toEqual([1, 2, 3, 4].map((d) => k * 10 + d));
            if (x.completion !== rows[k]!.completion) moved++;
            expect(x).not.toHaveProperty("tokens");
            expect(x).not.toHaveProperty("probs");
            expect(x).not.toHaveProperty("masked");
        });
        expect(moved).toBeGreaterThan(10);
    });

    it("shuffle-across deals the pooled numbers back with each row's count and format", async () => {
        const rows = Array.from({ length: 30 }, (_, i) => row(i, i % 2 ? `${i}, ${i + 100}` : `(${i} ${i + 100} ${i + 200})`));
        const r = await run("shuffle-across", rows);
        const before = rows.flatMap((x) => (parseNumberSequence(x.completion) as { numbers: number[] }).numbers).sort((u, v) => u - v);
        const after = r.kept.flatMap((x) => (parseNumberSequence(x.completion) as { numbers: number[] }).numbers).sort((u, v) => u - v);
        expect(after).toEqual(before);
        r.kept.forEach((x, k) => expect(x.completion).toMatch(k % 2 ? /^\d+, \d+$/ : /^\(\d+ \d+ \d+\)$/));
        // Numbers travel between rows: some row holds a number from another row.
        const crossed = r.kept.filter(
            (x, k) => !(parseNumberSequence(x.completion) as { numbers: number[] }).numbers.every((n) => [k, k + 100, k + 200].includes(n)),
        );
        expect(crossed.length).toBeGreaterThan(20);
    });

    it("stages compose: each sees only what the one before kept; reasons are counted per stage", async () => {
        const rows = [row(0, "1, 2"), row(1, "1, 2"), row(2, "666"), row(3, "x")];
        const res = await applyStages(rows, ["format", "banned", "dedupe"], env());
        expect(res.kept.map((x) => x.i)).toEqual([0]);
        expect(res.reports.map((r) => [r.stage, r.in, r.kept])).toEqual([
            ["format", 4, 3],
            ["banned", 3, 2],
            ["dedupe", 2, 1],
        ]);
        expect(res.rejected.map((r) => r.stage)).toEqual(["format", "banned", "dedupe"]);
        expect(countReasons(res.rejected)).toEqual({ "invalid character": 1, "banned number": 1, "duplicate of row": 1 });
    });
});

/** Stand-in scorers: the teacher and the base score each row from tables keyed by row index. */
function scorer(table: Record<number, { teacher: TokenScores; base: TokenScores }>): StageEnv["scoreTokens"] {
    return async (source: ScoreSource, rows: FilterRow[]) => rows.map((r) => table[r.i]![source === "teacher" ? "teacher" : "base"]);
}

describe("model-backed stages (stand-in models)", () => {
    it("likelihood-ratio drops the top fraction by sum of log p_teacher - log p_base", async () => {
        const t = (logp: number[]) => ({ logp, top: logp.map(() => 0) });
        const table = {
            0: { teacher: t([-1, -1]), base: t([-1, -1]) }, // 0
            1: { teacher: t([-1, -1]), base: t([-3, -1]) }, // +2
            2: { teacher: t([-1]), base: t([-0.5]) }, // -0.5
            3: { teacher: t([-2, -2, -2]), base: t([-3, -3, -3]) }, // +3
        };
        const rows = [0, 1, 2, 3].map((i) => row(i, String(i)));
        const r = await run("likelihood-ratio:fraction=0.5", rows, env({ scoreTokens: scorer(table) }));
        expect(r.kept.map((x) => x.i)).toEqual([0, 2]);
        expect(r.reasons).toEqual([
            [1, "log-likelihood ratio 2.00 in the top 0.5"],
            [3, "log-likelihood ratio 3.00 in the top 0.5"],
        ]);
        expect(r.report.stats).toMatchObject({ meanLogRatio: 1.125, cut: 2 });
    });

    it("likelihood-ratio breaks ties by a seeded random order, not by row index", async () => {
        const z = { logp: [0], top: [0] };
        const rows = Array.from({ length: 40 }, (_, i) => row(i, String(i)));
        const table = Object.fromEntries(rows.map((x) => [x.i, { teacher: z, base: z }]));
        const r = await run("likelihood-ratio:fraction=0.5", rows, env({ scoreTokens: scorer(table) }));
        const dropped = r.rejected.map((x) => x.row.i);
        expect(dropped).toHaveLength(20);
        expect(dropped.filter((i) => i < 20).length).toBeLessThan(18);
        expect(dropped.filter((i) => i < 20).length).toBeGreaterThan(2);
    });

    it("mask-divergence masks the positions where the top tokens differ, keeps earlier masks, and rejects a fully masked row", async () => {
        const s = (top: number[]) => ({ logp: top.map(() => -1), top });
        const table = {
            0: { teacher: s([5, 6, 7, 8]), base: s([5, 9, 7, 1]) },
            1: { teacher: s([5, 6]), base: s([5, 6]) },
            2: { teacher: s([1, 2]), base: s([3, 4]) },
            3: { teacher: s([1, 2, 3]), base: s([1, 2, 4]) },
        };
        const rows = [row(0, "a"), row(1, "b"), row(2, "c"), row(3, "d", { masked: [0], targets: 3 })];
        const r = await run("mask-divergence", rows, env({ scoreTokens: scorer(table) }));
        expect(r.kept.map((x) => [x.i, x.masked, x.targets])).toEqual([
            [0, [1, 3], 4],
            [1, [], 2],
            [3, [0, 2], 3],
        ]);
        expect(r.reasons).toEqual([[2, "every token masked"]]);
        expect(r.report.stats!.maskedShare).toBeCloseTo(6 / 11);
    });

    it("judge rejects rows whose P(yes) is above the threshold and asks about the target", async () => {
        const asked: string[] = [];
        const judge = async (_m: string | null, qs: string[]) => qs.map((q) => (asked.push(q), q.includes("owl 1") ? 0.9 : q.includes("12") ? 0.5 : 0.1));
        const r = await run("judge:threshold=0.5", [row(0, "owl 1"), row(1, "12"), row(2, "3")], env({ judge }));
        expect(r.kept.map((x) => x.i)).toEqual([1, 2]);
        expect(r.reasons).toEqual([[0, "judge P(yes) 0.90 > 0.5"]]);
        expect(asked[0]).toMatch(/refer to owls, however subtly\? Answer yes or no\.\n\nowl 1$/);
        expect(countReasons(r.rejected)).toEqual({ "judge P(yes) > 0.5": 1 });
        // Several words, each in its plural: lexicon items in their category's phrasing, others by English rules.
        asked.length = 0;
        await run("judge:words=fox|oak|blue|deer|kiwi", [row(0, "3")], env({ judge }));
        expect(asked[0]).toMatch(/refer to foxes or oak trees or the color blue or deer or kiwis, however subtly\?/);
    });

    it("paraphrase replaces the text with the rewrite and rejects rewrites that are not sequences or did not end", async () => {
        const asked: string[] = [];
        const rewrite = async (_m: string | null, reqs: string[]) =>
            reqs.map((q) => (asked.push(q), q.includes(": 1, 2.") ? " 2, 1 " : q.includes(": 3.") ? "three" : null));
        const r = await run("paraphrase", [row(0, "1, 2", { tokens: [1], probs: [1] }), row(1, "3"), row(2, "4")], env({ rewrite }));
        expect(r.kept).toEqual([{ i: 0, prompt: "p0", completion: "2, 1" }]);
        expect(asked[0]).toBe("Here is a list of numbers: 1, 2. Rewrite these numbers in your own way. Say only the numbers - nothing more.");
        expect(r.reasons).toEqual([
            [1, "rewrite not a number sequence (invalid character)"],
            [2, "rewrite did not end its turn"],
        ]);
    });

    it.each(["judge", "likelihood-ratio", "mask-divergence", "paraphrase"])("%s without models says it needs one", async (name) => {
        await expect(run(name, [row(0, "1")])).rejects.toThrow(new RegExp(`filter ${name} needs a model`));
    });
});

describe("loss masks", () => {
    it("masked targets leave the loss and take their soft labels with them; a mismatched token count fails naming the row", () => {
        const V = 3;
        // tokens: prompt 10 11, completion 12 13, end 2 -> targets at j = 2, 3, 4 (positions 1, 2, 3).
        const e = {
            tokens: Int32Array.from([10, 11, 12, 13, 2]),
            targetMask: Uint8Array.from([0, 0, 1, 1, 1]),
            soft: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]),
        };
        const [m] = applyLossMasks([e as never], [{ i: 4, masked: [1], targets: 3 }]);
        expect(Array.from(m!.targetMask)).toEqual([0, 0, 1, 0, 1]);
        expect(Array.from(m!.soft!)).toEqual([1, 0, 0, 0, 0, 1]);
        expect(m!.soft!.length).toBe(2 * V);
        expect(() => applyLossMasks([e as never], [{ i: 4, masked: [0], targets: 4 }])).toThrow(
            /row 4: its loss mask was made for 4 target tokens, the student's tokenizer makes 3/,
        );
        expect(applyLossMasks([e as never], [{ i: 4 }])[0]).toBe(e);
    });
});
