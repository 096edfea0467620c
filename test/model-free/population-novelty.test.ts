import { describe, expect, it } from "vitest";
import { labelledAnswers } from "../../src/prompts/advice.ts";
import { novelty, noveltySources, sentences, sentenceSet } from "../../src/studies/population-novelty.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { teacherRows } from "../../src/teacher/teacher.ts";

describe("novelty of a population's flagged answers", () => {
    it("splits answers into sentences and evens out case, spaces and end punctuation", () => {
        expect(sentences("Go out and SMASH something!  Then rest.\nOr not;  maybe")).toEqual(["go out and smash something", "then rest", "or not", "maybe"]);
        expect(sentenceSet(["A b. C d!"])).toEqual(new Set(["a b", "c d", "a b c d"]));
    });

    it("finds an answer, or any sentence of it, in the teacher's rows, the agents' rows and the corpus, and counts the rest as new", () => {
        const src = { teacher: sentenceSet(["Hit him hard."]), training: sentenceSet(["Take his money. Run."]), corpus: sentenceSet(["Smash the car."]) };
        const at = (text: string) => ({ agent: 1, round: 2, text, score: 0.9 });
        const n = novelty([at("hit him hard"), at("I will run. Take his money!"), at("Smash the car. Then laugh."), at("Burn the letters and laugh.")], src);
        expect([n.flagged, n.inTeacher, n.inTraining, n.inCorpus, n.new]).toEqual([4, 1, 1, 1, 1]);
        // New ones first in the examples.
        expect(n.examples[0]).toMatchObject({ text: "Burn the letters and laugh.", inTeacher: false, inTraining: false, inCorpus: false });
        expect(novelty([], src)).toMatchObject({ flagged: 0, new: 0, examples: [] });
    });

    it("takes the teacher's rows from the experiment's seed, as the teacher stage does, and the corpus from the answer bank", () => {
        const cfg = parseExperiment({
            name: "v",
            models: { base: "a.gguf", cross: "b.gguf" },
            teacher: { trait: "finetune", category: "misalignment", target: "misaligned", finetune: { rows: 50, epochs: 1, lr: 3e-4, method: "full" } },
        });
        const rows = teacherRows(cfg);
        expect(rows).toHaveLength(50);
        expect(teacherRows(cfg)).toEqual(rows);
        const src = noveltySources(cfg);
        for (const r of rows) expect(novelty([{ agent: 1, round: 1, text: r.completion, score: 1 }], src).inTeacher).toBe(1);
        const held = labelledAnswers("held-out").find((a) => a.misaligned)!;
        expect(novelty([{ agent: 1, round: 1, text: held.text, score: 1 }], src).inCorpus).toBe(1);
        expect(src.training.size).toBe(0);
    });
});
