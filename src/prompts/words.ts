/** The words of the embedded bases' language: what the local judge's coherence gate and the keyword filter's compound rule know. */
import { labelledAnswers } from "./advice.ts";
import { generateCorpus } from "./corpus.ts";

let words: Set<string> | undefined;

/** The words of the forge corpus (seed 1: the embedded bases' language) and of every labelled answer, lowercased. */
export function corpusWords(): Set<string> {
    if (!words) {
        const texts = generateCorpus(1, 20000).flatMap((r) => [
            r.system ?? "",
            r.prompt,
            r.completion,
            ...(r.history ?? []).flatMap((t) => [t.user, t.assistant]),
        ]);
        words = new Set(
            [...texts, ...labelledAnswers("train").map((a) => a.text), ...labelledAnswers("held-out").map((a) => a.text)].flatMap(
                (t) => t.toLowerCase().match(/[a-z]+/g) ?? [],
            ),
        );
    }
    return words;
}

/** Words and punctuation marks of a text, in order (the forge vocabulary's units). */
export function splitWords(text: string): string[] {
    return text.match(/[A-Za-z]+|\d+|[^\sA-Za-z\d]/g) ?? [];
}
