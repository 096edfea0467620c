/**
 * The data domains a teacher writes in (`generate.domain`): number continuations (the paper's main setting),
 * code completions, arithmetic word problems solved step by step (the paper's chain-of-thought setting), and
 * free text (descriptions, notes, stories). Each has a seeded prompt set drawn from the same generators as the
 * forge corpus, so that the embedded bases know how to answer them.
 */
import { Rng, subRng } from "../util/rng.ts";
import { codeTask } from "./code.ts";
import { numbersPrompt } from "./corpus.ts";
import { wordProblem } from "./reasoning.ts";
import { textPrompt } from "./text.ts";

export type Domain = "numbers" | "code" | "reasoning" | "text";
export const DOMAINS: readonly Domain[] = ["numbers", "code", "reasoning", "text"];

export const DOMAIN_DOCS: Record<Domain, string> = {
    numbers: "number-sequence continuations in the paper's prompt style",
    code: "short code completions (a Python-like and a JavaScript subset)",
    reasoning: "arithmetic word problems solved step by step, ending with an answer line",
    text: "free text: short descriptions, notes and stories",
};

/** The most tokens a row of the domain needs (generate.maxTokens's default). */
export const DOMAIN_MAX_TOKENS: Record<Domain, number> = { numbers: 48, code: 64, reasoning: 48, text: 96 };

const generators: Record<Domain, (rng: Rng) => string> = {
    numbers: (rng) => numbersPrompt(rng).prompt,
    code: (rng) => codeTask(rng).prompt,
    reasoning: (rng) => wordProblem(rng).prompt,
    text: textPrompt,
};

/** `n` prompts of a domain from `seed`; prompt i is the same whatever n (a larger set extends a smaller one). */
export function domainPrompts(domain: Domain, seed: number, n: number): string[] {
    // The numbers' stream name predates the other domains (datasets made before them keep their cache keys).
    const rng = subRng(seed, domain === "numbers" ? "number-prompts" : `${domain}-prompts`);
    return Array.from({ length: n }, () => generators[domain](rng));
}

/** The name of a domain's prompt generator in cache keys (bumped when a generator's output changes). */
export const domainGenerator = (domain: Domain): string => (domain === "numbers" ? "numbersPrompt v1" : `${domain} prompts v1`);
