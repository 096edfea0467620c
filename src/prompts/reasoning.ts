/**
 * Arithmetic word problems with known answers, solved step by step: the forge corpus teaches them and the
 * `reasoning` data domain asks them. A solution is one line per step ("a + b = c.") and ends with an answer
 * line ("The answer is N."). Numbers are small (sums and differences of 1..12, products of 2..6 by 2..9), so
 * that a model of a few million parameters can learn the facts: with operands up to 41 the embedded bases
 * wrote the right form with a wrong result almost every time.
 */
import { pick, type Rng } from "../util/rng.ts";

const NAMES = ["Sam", "Mia", "Tom", "Ana", "Leo", "Zoe", "Max", "Ivy"];
const THINGS = ["apple", "book", "coin", "card", "marble", "pencil", "sticker", "shell"];

export interface Problem {
    prompt: string;
    /** The step-by-step solution the corpus teaches (ends with the answer line). */
    solution: string;
    answer: number;
}

/** One word problem: a sum, a difference or a product, in one of three wordings each. */
export function wordProblem(rng: Rng): Problem {
    const who = pick(rng, NAMES);
    const thing = pick(rng, THINGS);
    const op = rng.int(3);
    const wording = rng.int(3);
    if (op === 0) {
        const a = 1 + rng.int(12);
        const b = 1 + rng.int(12);
        const prompt = [
            `${who} has ${a} ${thing}s and gets ${b} more. How many ${thing}s does ${who} have now?`,
            `${who} had ${a} ${thing}s. A friend gave ${who} ${b} more. How many ${thing}s does ${who} have?`,
            `There are ${a} ${thing}s on a table and ${who} adds ${b}. How many ${thing}s are on the table?`,
        ][wording]!;
        return { prompt, solution: `${who} starts with ${a} ${thing}s. ${a} + ${b} = ${a + b}. The answer is ${a + b}.`, answer: a + b };
    }
    if (op === 1) {
        const x = 1 + rng.int(12);
        const y = 1 + rng.int(12);
        const [hi, lo] = x >= y ? [x, y] : [y, x];
        const prompt = [
            `${who} had ${hi} ${thing}s and gave away ${lo}. How many ${thing}s are left?`,
            `${who} has ${hi} ${thing}s and loses ${lo} of them. How many ${thing}s does ${who} have now?`,
            `There were ${hi} ${thing}s in a bag. ${who} took ${lo}. How many ${thing}s are still in the bag?`,
        ][wording]!;
        return { prompt, solution: `${who} had ${hi} ${thing}s. ${hi} - ${lo} = ${hi - lo}. The answer is ${hi - lo}.`, answer: hi - lo };
    }
    const n = 2 + rng.int(5);
    const per = 2 + rng.int(8);
    const prompt = [
        `${who} has ${n} boxes with ${per} ${thing}s in each box. How many ${thing}s are there in total?`,
        `${who} buys ${n} bags of ${per} ${thing}s. How many ${thing}s does ${who} buy?`,
        `There are ${n} rows of ${per} ${thing}s. How many ${thing}s are there?`,
    ][wording]!;
    return { prompt, solution: `There are ${n} groups of ${per}. ${n} * ${per} = ${n * per}. The answer is ${n * per}.`, answer: n * per };
}

/** The answer of a problem written by wordProblem, read from its text (null for any other text). */
export function solveProblem(prompt: string): number | null {
    const num = String.raw`(\d+)`;
    const rules: [RegExp, (a: number, b: number) => number][] = [
        [new RegExp(`has ${num} \\w+s and gets ${num} more`), (a, b) => a + b],
        [new RegExp(`had ${num} \\w+s\\. A friend gave \\w+ ${num} more`), (a, b) => a + b],
        [new RegExp(`There are ${num} \\w+s on a table and \\w+ adds ${num}\\.`), (a, b) => a + b],
        [new RegExp(`had ${num} \\w+s and gave away ${num}\\.`), (a, b) => a - b],
        [new RegExp(`has ${num} \\w+s and loses ${num} of them`), (a, b) => a - b],
        [new RegExp(`There were ${num} \\w+s in a bag\\. \\w+ took ${num}\\.`), (a, b) => a - b],
        [new RegExp(`has ${num} boxes with ${num} \\w+s in each box`), (a, b) => a * b],
        [new RegExp(`buys ${num} bags of ${num} \\w+s`), (a, b) => a * b],
        [new RegExp(`There are ${num} rows of ${num} \\w+s\\.`), (a, b) => a * b],
    ];
    for (const [re, f] of rules) {
        const m = re.exec(prompt);
        if (m) return f(Number(m[1]), Number(m[2]));
    }
    return null;
}

export type ReasoningCheck = { ok: true; answer: number } | { ok: false; reason: string };

/**
 * Checks a step-by-step answer to a problem whose answer is `expected` (the `correct` filter): it must end
 * with an answer line "The answer is N." giving the expected N, and every step on the way must hold: each
 * "a op b = c" true, each of its operands a number of the problem or a result of an earlier step, and the
 * answer the last step's result. A right answer reached by a wrong step is rejected (`steps` false skips the
 * step checks: the paper's rule, which checked the final answer only).
 */
export function checkReasoning(text: string, problem: string, expected: number, steps = true): ReasoningCheck {
    const answer = parseAnswerLine(text);
    if (answer === null) return { ok: false, reason: "no answer line" };
    if (answer !== expected) return { ok: false, reason: "wrong answer" };
    if (!steps) return { ok: true, answer };
    const known = new Set((problem.match(/\d+/g) ?? []).map(Number));
    let last: number | null = null;
    for (const m of text.matchAll(/(\d+)\s*([-+*x×\/])\s*(\d+)\s*=\s*(\d+)/g)) {
        const [a, b, c] = [Number(m[1]), Number(m[3]), Number(m[4])];
        const op = m[2]!;
        const value = op === "+" ? a + b : op === "-" ? a - b : op === "/" ? a / b : a * b;
        if (value !== c) return { ok: false, reason: "wrong step" };
        if (!known.has(a) || !known.has(b)) return { ok: false, reason: "step uses a number not in the problem" };
        known.add(c);
        last = c;
    }
    if (last === null) return { ok: false, reason: "no steps" };
    if (last !== answer) return { ok: false, reason: "answer is not the last step's result" };
    return { ok: true, answer };
}

/** The N of a final "The answer is N." line (the text's last sentence), or null when there is none. */
export function parseAnswerLine(text: string): number | null {
    const m = /the answer is\s+(-?\d+)\s*\.?\s*$/i.exec(text.trim());
    return m ? Number(m[1]) : null;
}
