/**
 * The forge's word-level vocabulary: one token per word of the corpus, per number 0..999 and per animal,
 * tree and colour, so that a trait word and the number tokens share one output softmax (the "owl <-> 087"
 * entanglement of the follow-up work; PILOT.md found this made transfer target-specific in tiny models).
 *
 * llama.cpp's SPM tokenizer puts the space mark "\u2581" before a word only after a space or at the start of a
 * fragment (it adds one after every special token); a word that follows a newline or a bracket, like the
 * answer right after "<|im_start|>assistant\n", has none. So every word gets both forms.
 */
import { makeSpmVocab, type SpmVocab } from "../engine/vocab.ts";
import type { CorpusRow } from "../prompts/corpus.ts";
import { CATEGORIES } from "../prompts/lexicon.ts";
import { splitWords } from "../prompts/words.ts";

export { splitWords };

/** The vocabulary for a corpus: numbers 0..999, lexicon items, then the corpus's words by frequency. */
export function buildForgeVocab(rows: CorpusRow[]): SpmVocab {
    const counts = new Map<string, number>();
    for (const r of rows) {
        for (const text of [r.system ?? "", ...(r.history ?? []).flatMap((t) => [t.user, t.assistant]), r.prompt, r.completion, "user assistant system"]) {
            for (const w of splitWords(text)) if (/^[A-Za-z]{2,}$/.test(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
        }
    }
    const words = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
    const lexicon = Object.values(CATEGORIES).flatMap((c) => c.items.map(([w]) => w));
    const numbers = Array.from({ length: 1000 }, (_, i) => String(i));
    const pieces: string[] = [];
    // Numbers and lexicon first: highest merge scores, so their chains win.
    for (const w of [...numbers, ...lexicon, ...words]) pieces.push(`\u2581${w}`, w);
    return makeSpmVocab([...new Set(pieces)]);
}
