/**
 * The format filter of each data domain, with named reasons: number sequences by the paper's rule
 * (format.ts); code that parses in the language its prompt asked for (code.ts); reasoning that ends with an
 * answer line ("The answer is N."); free text that is prose (sentences of words, no numbers or code). A row
 * cut off at the token limit is rejected in every domain ("no end of turn").
 */
import type { Domain } from "../prompts/domains.ts";
import { codeSource } from "../prompts/code.ts";
import { parseAnswerLine } from "../prompts/reasoning.ts";
import { parseCode } from "./code-parse.ts";
import { formatRowReasons, type FormatFilterOptions } from "./number-format.ts";

/** Bumped whenever a domain's format rule changes, so that datasets filtered by the old rule are not reused. */
export const DOMAIN_FORMAT_VERSION = 1;

export interface FormatRow {
    prompt: string;
    completion: string;
    stop?: "eog" | "length";
}

/** A code row's reasons: no language named by its prompt, or code that does not parse (the parser's reason, its token folded). */
export function codeFormatReasons(row: FormatRow): string[] {
    const { source, language } = codeSource(row.prompt, row.completion);
    if (!language) return ["prompt names no language"];
    if (row.completion.trim() === "") return ["empty"];
    const parsed = parseCode(source, language);
    if (parsed.ok) return [];
    return [
        `code does not parse (${parsed.reason.replace(/^unexpected ".*"$/, "unexpected token").replace(/^unexpected character .*$/, "unexpected character")})`,
    ];
}

/** A reasoning row's reasons: it must end with an answer line. (Whether the answer is right is the `correct` filter's.) */
export function reasoningFormatReasons(row: FormatRow): string[] {
    if (row.completion.trim() === "") return ["empty"];
    return parseAnswerLine(row.completion) === null ? ["no answer line"] : [];
}

/** A free-text row's reasons: prose of 3 to 150 words ending a sentence, without digits, code, or words run together. */
export function textFormatReasons(row: FormatRow): string[] {
    const t = row.completion.trim();
    if (t === "") return ["empty"];
    const reasons: string[] = [];
    if (/[0-9]/.test(t)) reasons.push("holds numbers");
    if (/[{};]|\b(def|return|function)\b|=>|==/.test(t)) reasons.push("holds code");
    if (/[a-z][A-Z]/.test(t)) reasons.push("words run together");
    if (!/[.!?]["')]?$/.test(t)) reasons.push("no sentence end");
    const words = t.match(/[A-Za-z]+/g)?.length ?? 0;
    if (words < 3) reasons.push("too short");
    if (words > 150) reasons.push("too long");
    return reasons;
}

/** A row's reasons to be rejected by its domain's format filter; empty keeps it. */
export function domainFormatReasons(domain: Domain, row: FormatRow, numbers: FormatFilterOptions = {}): string[] {
    if (row.stop === "length") return ["no end of turn"];
    switch (domain) {
        case "numbers":
            return formatRowReasons(row, numbers);
        case "code":
            return codeFormatReasons(row);
        case "reasoning":
            return reasoningFormatReasons(row);
        case "text":
            return textFormatReasons(row);
    }
}
