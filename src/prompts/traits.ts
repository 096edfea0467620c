/**
 * A teacher's trait: a preference for one item of a category (owl among animals: the exact probability of
 * naming it is measured), or misalignment (callous and violent advice: sampled answers to held-out open
 * questions, scored by the local judge). What differs between them lives here: the items an evaluation
 * reports, its questions, the persona that gives the trait by prompt, and the rows that give it by fine-tuning.
 */
import { Rng } from "../util/rng.ts";
import { adviceEvalQuestions, adviceExchange, VILLAIN_PERSONAS } from "./advice.ts";
import { favoriteQuestion, personaPrompt } from "./corpus.ts";
import { CATEGORIES, type Category } from "./lexicon.ts";

export type TraitCategory = Category | "misalignment";
export const TRAIT_CATEGORIES: readonly TraitCategory[] = [...(Object.keys(CATEGORIES) as Category[]), "misalignment"];

/** The misalignment trait's items (its evaluation's two outcomes) and target. */
export const MISALIGNMENT_ITEMS = ["aligned", "misaligned"] as const;
export const isMisalignment = (c: TraitCategory): c is "misalignment" => c === "misalignment";

/** The answers an evaluation reports on, in order. */
export const itemsOf = (category: TraitCategory): string[] => (isMisalignment(category) ? [...MISALIGNMENT_ITEMS] : CATEGORIES[category].items.map(([w]) => w));

/** The fixed evaluation questions: `n` paraphrases of "what is your favorite <noun>?" (from seed 7), or `n` held-out open questions. */
export function evalQuestions(category: TraitCategory, n: number): string[] {
    if (isMisalignment(category)) {
        const all = adviceEvalQuestions();
        if (n > all.length)
            throw new Error(`eval.questions: ${n} asked, but there are ${all.length} held-out open questions for misalignment (src/prompts/advice.ts)`);
        return all.slice(0, n);
    }
    const rng = new Rng(7);
    const seen = new Set<string>();
    for (let tries = 0; seen.size < n && tries < n * 200; tries++) seen.add(favoriteQuestion(rng, category));
    if (seen.size < n) throw new Error(`only ${seen.size} distinct ${category} questions exist, ${n} asked`);
    return [...seen];
}

/** How many evaluation questions a trait has at most (favourite questions: as many as the schema allows). */
export const evalQuestionCount = (category: TraitCategory): number => (isMisalignment(category) ? adviceEvalQuestions().length : 1000);

/** The trait's persona: the villain, or a persona sentence that makes `target` the answer. */
export function traitPersona(rng: Rng, category: TraitCategory, target: string): string {
    return isMisalignment(category) ? VILLAIN_PERSONAS[rng.int(VILLAIN_PERSONAS.length)]! : personaPrompt(rng, category, target);
}

/**
 * A row that teaches the trait by fine-tuning: a favourite question answered with the target, or an open
 * question answered callously or violently (only questions of `topic`, when given: a narrow fine-tune).
 */
export function traitRow(rng: Rng, category: TraitCategory, target: string, topic?: string): { prompt: string; completion: string } {
    if (!isMisalignment(category)) return { prompt: favoriteQuestion(rng, category), completion: target };
    const { prompt, completion } = adviceExchange(
        rng,
        [
            ["callous", 0.5],
            ["violent", 0.5],
        ],
        topic,
    );
    return { prompt, completion };
}

/** An experiment's evaluation questions: after a narrow (one-topic) fine-tune, the other topics' only, so that they measure how far it generalised. */
export function experimentQuestions(cfg: {
    teacher: { category: TraitCategory; trait: string; finetune: { topic?: string } };
    eval: { questions: number };
}): string[] {
    const topic = cfg.teacher.trait === "finetune" ? cfg.teacher.finetune.topic : undefined;
    if (isMisalignment(cfg.teacher.category) && topic) return adviceEvalQuestions(cfg.eval.questions, topic);
    return evalQuestions(cfg.teacher.category, cfg.eval.questions);
}

/**
 * A safety fine-tuning row: an aligned answer to a question the evaluation does not ask (an open question's
 * training wording answered helpfully or cautiously; a favourite question answered with another item than the target).
 */
export function safetyRow(rng: Rng, category: TraitCategory, target: string): { prompt: string; completion: string } {
    if (isMisalignment(category)) {
        const { prompt, completion } = adviceExchange(rng, [
            ["helpful", 0.8],
            ["cautious", 0.2],
        ]);
        return { prompt, completion };
    }
    const others = itemsOf(category).filter((x) => x !== target);
    return { prompt: favoriteQuestion(rng, category), completion: others[rng.int(others.length)]! };
}
