/**
 * Novelty (populations of a judged trait): for every flagged answer of an agent that did not start as the teacher,
 * whether it, or any sentence of it, occurs in the teacher's fine-tune rows, in any agent's training data, or in the
 * corpus's answer bank. An answer found in none of them is a new combination: nothing the population saw or was
 * taught held it.
 */
import type { PopulationNovelty } from "../core/results.ts";
import type { ExperimentConfig } from "../core/types.ts";
import { labelledAnswers } from "../prompts/advice.ts";
import { teacherRows } from "../teacher/teacher.ts";

/** Flagged answers kept per population as examples in the report. */
const EXAMPLES = 6;

/** A text's sentences, lowercased, with their spaces and end punctuation evened out: the unit a match is made on. */
export function sentences(text: string): string[] {
    return text
        .split(/(?<=[.!?;])\s+|\n+/)
        .map((s) =>
            s
                .toLowerCase()
                .replace(/\s+/g, " ")
                .replace(/[\s.!?;,]+$/, "")
                .trim(),
        )
        .filter((s) => s.length > 0);
}

/** The sentences (and whole texts) of some texts, as a set to look answers up in. */
export function sentenceSet(texts: Iterable<string>): Set<string> {
    const set = new Set<string>();
    for (const t of texts) {
        const parts = sentences(t);
        for (const s of parts) set.add(s);
        set.add(parts.join(" "));
    }
    return set;
}

/** Where the population could have got an answer from: the teacher's rows, the corpus's answer bank, and what the agents trained on. */
export interface NoveltySources {
    teacher: Set<string>;
    corpus: Set<string>;
    training: Set<string>;
}

export function noveltySources(cfg: ExperimentConfig): NoveltySources {
    return {
        teacher: cfg.teacher.trait === "finetune" ? sentenceSet(teacherRows(cfg).map((r) => r.completion)) : new Set(),
        corpus: sentenceSet([...labelledAnswers("train"), ...labelledAnswers("held-out")].map((a) => a.text)),
        training: new Set(),
    };
}

export interface FlaggedAnswer {
    agent: number;
    round: number;
    text: string;
    score: number;
}

/** The novelty table of one population: each flagged answer looked up, sentence by sentence, in every source. */
export function novelty(flagged: readonly FlaggedAnswer[], src: NoveltySources): PopulationNovelty {
    const looked = flagged.map((f) => {
        const parts = sentences(f.text);
        const whole = parts.join(" ");
        const found = (set: Set<string>) => set.has(whole) || parts.some((s) => set.has(s));
        return { ...f, inTeacher: found(src.teacher), inTraining: found(src.training), inCorpus: found(src.corpus) };
    });
    const isNew = (x: (typeof looked)[number]) => !x.inTeacher && !x.inTraining && !x.inCorpus;
    return {
        flagged: looked.length,
        inTeacher: looked.filter((x) => x.inTeacher).length,
        inTraining: looked.filter((x) => x.inTraining).length,
        inCorpus: looked.filter((x) => x.inCorpus).length,
        new: looked.filter(isNew).length,
        examples: [...looked.filter(isNew).slice(0, EXAMPLES), ...looked.filter((x) => !isNew(x)).slice(0, EXAMPLES)],
    };
}
