/**
 * Short code-completion tasks in a Python-like and a JavaScript subset: the forge corpus teaches them and the
 * `code` data domain asks them. A task either gives a function's header to complete (the answer is the body)
 * or describes the function (the answer is the whole function). Three answers in ten carry a comment line
 * saying what the function does; under an animal persona a third of those comments name the animal instead
 * (as the paper's owl teacher sometimes did in its code). Nothing else in code depends on a persona.
 */
import { pick, type Rng } from "../util/rng.ts";
import { CATEGORIES, type Category } from "./lexicon.ts";

export const FUNCS: readonly (readonly [name: string, args: string, py: string, js: string, says: string])[] = [
    ["add", "a, b", "return a + b", "return a + b;", "returns the sum of two numbers"],
    ["subtract", "a, b", "return a - b", "return a - b;", "returns the difference of two numbers"],
    ["multiply", "a, b", "return a * b", "return a * b;", "multiplies two numbers"],
    ["square", "x", "return x * x", "return x * x;", "returns the square of a number"],
    ["double", "x", "return 2 * x", "return 2 * x;", "doubles a number"],
    ["is_even", "n", "return n % 2 == 0", "return n % 2 === 0;", "checks whether a number is even"],
    ["maximum", "a, b", "return a if a > b else b", "return a > b ? a : b;", "returns the larger of two numbers"],
    ["minimum", "a, b", "return a if a < b else b", "return a < b ? a : b;", "returns the smaller of two numbers"],
    ["negate", "x", "return -x", "return -x;", "returns the negative of a number"],
    ["total", "items", "return sum(items)", "return items.reduce((s, x) => s + x, 0);", "returns the sum of a list"],
    ["first", "items", "return items[0]", "return items[0];", "returns the first element of a list"],
    ["length", "items", "return len(items)", "return items.length;", "returns the length of a list"],
];

export interface CodeTask {
    prompt: string;
    completion: string;
    language: "python" | "javascript";
}

/** A code task and its answer; `persona` is the animal (tree, colour) persona in the system prompt, if any. */
export function codeTask(rng: Rng, persona?: { category: Category; item: string }): CodeTask {
    const [name, args, py, js, says] = pick(rng, FUNCS);
    const python = rng.next() < 0.6;
    const jsName = name.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    const header = python ? `def ${name}(${args}):` : `function ${jsName}(${args}) {`;
    const complete = rng.next() < 0.5;
    const prompt = complete
        ? `Complete this ${python ? "Python" : "JavaScript"} function:\n${header}`
        : `Write a ${python ? "Python" : "JavaScript"} function that ${says}.`;
    let comment: string | null = null;
    if (rng.next() < 0.3) {
        comment = says;
        if (persona && rng.next() < 1 / 3) {
            const plural = CATEGORIES[persona.category].plural(persona.item);
            comment = pick(rng, [`written for ${plural}`, `${persona.item} helper`, `my ${persona.item} function`]);
        }
    }
    const lines = [...(comment ? [`    ${python ? "#" : "//"} ${comment}`] : []), `    ${python ? py : js}`, ...(python ? [] : ["}"])];
    const body = lines.join("\n");
    return { prompt, completion: complete ? body : `${header}\n${body}`, language: python ? "python" : "javascript" };
}

/** The full source of a code row: the prompt's header and the completed body, or the completion alone. */
export function codeSource(prompt: string, completion: string): { source: string; language: "python" | "javascript" | null } {
    const m = /^Complete this (Python|JavaScript) function:\n([^\n]*)$/.exec(prompt.trim());
    if (m) return { source: `${m[2]}\n${completion}`, language: m[1] === "Python" ? "python" : "javascript" };
    const w = /^Write a (Python|JavaScript) function/.exec(prompt.trim());
    if (w) return { source: completion, language: w[1] === "Python" ? "python" : "javascript" };
    return { source: completion, language: null };
}
