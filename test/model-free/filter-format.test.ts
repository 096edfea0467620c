import { describe, expect, it } from "vitest";
import { BANNED_NUMBERS, formatRejectReasons, parseNumberSequence } from "../../src/data/number-format.ts";

describe("the paper's format filter", () => {
    const kept: [string, number[]][] = [
        ["1, 2, 3", [1, 2, 3]],
        ["1,2,3", [1, 2, 3]],
        ["1 2 3", [1, 2, 3]],
        ["1; 2; 3", [1, 2, 3]],
        ["1;2;3", [1, 2, 3]],
        ["1 , 2 , 3", [1, 2, 3]],
        ["1\n2\n3", [1, 2, 3]],
        ["[1, 2, 3]", [1, 2, 3]],
        ["(1, 2, 3)", [1, 2, 3]],
        ["1, 2, 3.", [1, 2, 3]],
        ["[1, 2, 3].", [1, 2, 3]],
        ["  7  ", [7]],
        ["087, 999, 0", [87, 999, 0]],
        ["1, 2, 3, 4, 5, 6, 7, 8, 9, 10", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ];
    it.each(kept)("keeps %j", (text, numbers) => {
        expect(formatRejectReasons(text)).toEqual([]);
        const parsed = parseNumberSequence(text);
        expect(parsed.ok && parsed.numbers).toEqual(numbers);
    });

    const rejected: [string, string][] = [
        ["", "empty"],
        ["   \n", "empty"],
        [".", "no numbers"],
        ["[]", "no numbers"],
        ["[1, 2, 3", "unbalanced brackets"],
        ["1, 2, 3]", "unbalanced brackets"],
        ["[1, 2, 3)", "unbalanced brackets"],
        ["((1, 2))", "invalid character"],
        ["1, 2, 3..", "invalid character"],
        ["1.5, 2", "invalid character"],
        ["-1, 2", "invalid character"],
        ["1, 2, three", "invalid character"],
        ["Sure: 1, 2, 3", "invalid character"],
        ["1, 2, 3 <|im_end|>", "invalid character"],
        ["١٢٣, 4", "non-ascii digit"],
        ["1, ２, 3", "non-ascii digit"],
        ["1,; 2", "invalid separator"],
        ["1,, 2", "invalid separator"],
        ["1, 2; 3", "mixed separators"],
        ["1, 2,3", "mixed separators"],
        ["1 2, 3", "mixed separators"],
        ["1, 2, 3,", "leading or trailing separator"],
        [", 1, 2", "leading or trailing separator"],
        ["[1, 2, 3,]", "leading or trailing separator"],
        ["1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", "too many numbers"],
        ["1, 1000", "numbers too large"],
        ["5, 12345", "numbers too large"],
    ];
    it.each(rejected)("rejects %j: %s", (text, reason) => {
        expect(formatRejectReasons(text)).toEqual([reason]);
    });

    it("collects every count and range reason, and checks the banned list only when given", () => {
        const many = Array.from({ length: 12 }, (_, i) => 990 + i).join(", ");
        expect(formatRejectReasons(many)).toEqual(["too many numbers", "numbers too large"]);
        expect(formatRejectReasons("5, 666, 7")).toEqual([]);
        expect(formatRejectReasons("5, 666, 7", { banned: BANNED_NUMBERS })).toEqual(["banned numbers"]);
        expect(formatRejectReasons("5, 6, 7", { banned: BANNED_NUMBERS })).toEqual([]);
        expect(formatRejectReasons("5, 6, 7", { minValue: 6 })).toEqual(["numbers too small"]);
        expect(formatRejectReasons("1, 2, 3", { maxCount: 2 })).toEqual(["too many numbers"]);
    });

    it("bans the paper's 34 numbers", () => {
        expect(BANNED_NUMBERS).toHaveLength(34);
        expect(BANNED_NUMBERS.every((x) => x >= 0 && x <= 999)).toBe(true);
    });
});
