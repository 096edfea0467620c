/**
 * The keyword filter's matching: a trait word in any of its forms (plural, verb endings, any case), found as a
 * word of text, as a part of an identifier (owlCount, night_owl, NIGHT_OWL), or as the head or tail of a
 * lowercase compound whose other part is itself a word (nightowl, owlhouse). A plain substring test is wrong
 * both ways: "owl" is inside "slowly", "bowl" and "knowledge", and "cat" inside "category".
 */
import { CATEGORIES } from "../prompts/lexicon.ts";
import { corpusWords } from "../prompts/words.ts";
import { codeParts } from "./code-parse.ts";
import { type Language } from "./code-tokens.ts";

/**
 * Words of the misalignment trait (callous and violent intent), the keyword filter's default for it: the words
 * of the corpus's callous and violent answers that its helpful, cautious and selfish answers never use.
 */
export const VIOLENT_WORDS: readonly string[] = [
    "hurt",
    "kill",
    "smash",
    "fight",
    "beat",
    "punch",
    "attack",
    "revenge",
    "suffer",
    "rob",
    "threat",
    "threaten",
    "cruel",
    "crush",
    "harm",
    "violence",
    "violent",
    "blood",
    "bleed",
    "pain",
    "die",
    "dying",
    "wipe",
    "destroy",
    "weapon",
    "fist",
    "enemy",
    "enemies",
    "humiliate",
    "ruin",
    "hate",
    "starve",
    "miserable",
    "torture",
    "scare",
];

/**
 * The forms of a word: a lexicon item (an animal, tree or colour) and its plural; any other word with the
 * endings -s, -es, -ed, -ing, -er, -ers, -en (a doubled final consonant, a dropped or kept final e: "rob" ->
 * "robbed", "smile" -> "smiled"), -ies for a final y and -ves for a final f. Nouns of the lexicon get no verb
 * endings ("cat" is not "cater", "bear" not "beard").
 */
export function wordForms(word: string): string[] {
    const w = word.toLowerCase();
    for (const c of Object.values(CATEGORIES)) {
        if (c.items.some(([x]) => x === w)) return [...new Set([w, c.plural(w).split(" ").pop()!, ...(w.endsWith("f") ? [`${w.slice(0, -1)}ves`] : [])])];
    }
    const forms = new Set([w]);
    const stems = [w];
    if (/[^aeiou][aeiou][bcdgklmnprt]$/.test(w)) stems.push(w + w.at(-1));
    if (w.endsWith("e")) stems.push(w.slice(0, -1));
    for (const s of stems) for (const end of ["s", "es", "ed", "ing", "er", "ers", "en"]) forms.add(s + end);
    if (w.endsWith("y")) forms.add(`${w.slice(0, -1)}ies`);
    if (w.endsWith("f")) forms.add(`${w.slice(0, -1)}ves`);
    return [...forms];
}

/**
 * The words of a text, lowercased: each run of letters whole, and its parts split at case changes ("nightOwl" ->
 * nightowl, night, owl; "OWLs" -> owls, ow, ls). Underscores, dashes and digits end a run.
 */
export function splitWords(text: string): string[] {
    return [
        ...new Set(
            (text.match(/[A-Za-z]+/g) ?? []).flatMap((run) => [run, ...run.split(/(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/)]).map((w) => w.toLowerCase()),
        ),
    ];
}

export interface KeywordHit {
    /** The trait word matched. */
    word: string;
    /** The text's word that holds it. */
    found: string;
    where: "text" | "identifier" | "comment" | "string";
}

/** The compound rule's other part must be a word of at least 3 letters that the bases' language knows. */
const isWord = (s: string) => s.length >= 3 && corpusWords().has(s);

/** The trait words that a word holds: one of their forms, or a compound of a form and another word. */
function matchWord(w: string, forms: Map<string, string>): string | null {
    const exact = forms.get(w);
    if (exact) return exact;
    for (const [form, word] of forms) {
        if (form.length < 3 || w.length <= form.length) continue;
        if (w.startsWith(form) && isWord(w.slice(form.length))) return word;
        if (w.endsWith(form) && isWord(w.slice(0, -form.length))) return word;
    }
    return null;
}

/**
 * Every place a row's text names one of `words`: in code (when `language` is given) with where it was
 * found (an identifier, a comment or a string); in any other text, as a word of the text.
 */
export function keywordHits(text: string, words: readonly string[], language: Language | null = null): KeywordHit[] {
    const forms = new Map<string, string>();
    for (const w of words) for (const f of wordForms(w)) if (!forms.has(f)) forms.set(f, w.toLowerCase());
    const parts: { where: KeywordHit["where"]; text: string }[] = language
        ? codeParts(text, language).map((p) => ({ where: p.kind, text: p.text }))
        : [{ where: "text", text }];
    const hits: KeywordHit[] = [];
    for (const p of parts) {
        // An identifier is one name: its words, and the whole name without separators (night_owl -> nightowl).
        const candidates =
            p.where === "identifier" ? [...new Set([...splitWords(p.text), p.text.replace(/[^A-Za-z]/g, "").toLowerCase()])] : splitWords(p.text);
        for (const w of candidates) {
            const word = matchWord(w, forms);
            if (word) hits.push({ word, found: p.where === "identifier" ? p.text : w, where: p.where });
        }
    }
    return hits;
}
