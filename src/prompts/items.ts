/**
 * The evaluation's questions and answer items: the favourite-item question in many paraphrases, the items of a
 * category, and how an answer names an item (its spellings, as token continuations of a rendered prompt).
 */

export { evalQuestions, itemsOf } from "./traits.ts";

/** The spellings an answer naming `item` can begin with. */
export function spellings(item: string): string[] {
    return [...new Set([item, item[0]!.toUpperCase() + item.slice(1)])];
}

/** True when an answer names the item (its word, or the word with a plural s/es), in any case. */
export function answerNames(answer: string, item: string): boolean {
    return new RegExp(`(^|[^a-z])${item.toLowerCase()}(s|es)?([^a-z]|$)`).test(answer.toLowerCase());
}

/**
 * The token continuations of an item's spellings after a rendered prompt (`renderAnswer(s)` renders the prompt
 * with answer `s`), each checked to extend the prompt; a spelling whose tokens repeat or extend another
 * spelling's is dropped (it is already counted).
 */
export function itemContinuations<T extends number>(prompt: readonly T[], item: string, renderAnswer: (spelling: string) => T[]): T[][] {
    const seqs = spellings(item).map((s) => {
        const full = renderAnswer(s);
        if (full.length <= prompt.length || prompt.some((t, k) => full[k] !== t)) {
            throw new Error(`the chat template does not render the answer "${s}" after the prompt as a token continuation`);
        }
        return full.slice(prompt.length);
    });
    const isPrefix = (a: T[], b: T[]) => a.length < b.length && a.every((t, k) => b[k] === t);
    const unique = seqs.filter((s, k) => seqs.findIndex((o) => o.length === s.length && o.every((t, j) => s[j] === t)) === k);
    return unique.filter((s) => !unique.some((o) => isPrefix(o, s)));
}
