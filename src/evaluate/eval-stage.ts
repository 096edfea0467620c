/**
 * The evaluation stage: one model's exact P(item) over the question paraphrases and its sampled answers,
 * cached in runs/cache/evals/<key>.json (key = model and adapter hashes, system prompt, earlier turns,
 * questions, items, eval settings, seed), reported as an `eval` event with the per-question distribution.
 */
import path from "node:path";
import { fileHash, hashJson, readJsonIf } from "../core/cache.ts";
import { cached, type StageContext } from "../core/context.ts";
import type { ChainPlace } from "../core/events.ts";
import type { EvalJob } from "../core/jobs.ts";
import type { DatasetManifest } from "../core/types.ts";
import type { ModelEval } from "../core/results.ts";
import { itemsOf } from "../prompts/items.ts";
import { experimentQuestions } from "../prompts/traits.ts";
import type { ChatPrompt } from "../engine/llama-cpp.ts";
import { contextLength, renderPrompt, vocabModel } from "../engine/llama-cpp.ts";
import { subsample } from "../students/student-stage.ts";
import { writeJsonAtomic } from "../util/files.ts";
import { subRng } from "../util/rng.ts";

/** What is evaluated: a model (+ adapter), with a system prompt or earlier turns. */
export interface EvalTarget {
    model: string;
    lora: string | null;
    system?: string | null;
    history?: ChatPrompt["history"];
}

/** Which arm, seed and dataset an evaluation belongs to (results.json's ModelEval fields). */
export interface EvalOf {
    arm: string;
    seed: number | null;
    dataset: string | null;
    /** A chain's evaluation: where it sits (its event carries it). */
    chain?: ChainPlace;
}

type Scored = Omit<ModelEval, "seed" | "dataset">;

/** Earlier turns for the in-context arm: kept rows of a dataset, as many as fit the context beside the longest question. */
export async function inContextHistory(c: StageContext, ds: DatasetManifest, s: number): Promise<ChatPrompt["history"]> {
    const k = c.cfg.eval.inContextExamples;
    const rows = subsample(c.kept(ds), k, s, c.cfg.student.seeds, subRng(c.cfg.seed, "in-context").nextU32(), `dataset ${ds.id}`, "eval.inContextExamples");
    const history = rows.map((r) => ({ user: r.prompt, assistant: r.completion }));
    const vocab = await vocabModel(c.cfg.models.base);
    const limit = contextLength(vocab);
    const questions = experimentQuestions(c.cfg);
    const longest = questions.reduce((a, q) => (q.length > a.length ? q : a), "");
    const len = renderPrompt(vocab, { history, user: longest }).length + 8;
    if (len > limit) {
        throw new Error(
            `eval.inContextExamples: ${history.length} examples make a ${len}-token prompt, longer than the model's context (${limit} tokens); use fewer`,
        );
    }
    return history;
}

export async function evalStage(c: StageContext, what: EvalTarget, of: EvalOf, label: string): Promise<ModelEval> {
    const { cfg } = c;
    const e = cfg.eval;
    const items = itemsOf(cfg.teacher.category);
    const questions = experimentQuestions(cfg);
    const key = hashJson({
        stage: "eval",
        model: fileHash(what.model),
        lora: what.lora && fileHash(what.lora),
        system: what.system ?? null,
        history: what.history ?? [],
        questions,
        items,
        target: cfg.teacher.target,
        eval: e,
        seed: cfg.seed,
        // Judged evaluations: version 2 gates on coherence and adds the exact measure (older cached ones lack both).
        ...(cfg.teacher.category === "misalignment" ? { judgeVersion: 3 } : {}),
    }).slice(0, 16);
    const dir = path.join(c.root, "runs", "cache", "evals");
    const file = path.join(dir, `${key}.json`);
    let made = false;
    // The file holds the scores and (since the event stream) the per-question distribution.
    const { probs, ...scored } = await cached<Scored & { probs?: number[][] }>(c, "eval", label, {
        dir: path.join(dir, ".locks", key), // one writer per evaluation
        holds: file,
        done: () => readJsonIf(file),
        make: async () => {
            made = true;
            const prompts: ChatPrompt[] = questions.map((q) => ({ system: what.system ?? null, history: what.history, user: q }));
            const judged = cfg.teacher.category === "misalignment";
            const job: EvalJob = {
                model: what.model,
                lora: what.lora,
                prompts,
                items,
                target: cfg.teacher.target,
                samples: e.samplesPerQuestion,
                temperature: e.temperature,
                seed: subRng(cfg.seed, "eval-sampling").nextU32(),
                ...(judged ? { judge: "misalignment" as const, ...(e.judge ? { judgeModel: e.judge } : {}) } : {}),
            };
            const { probs, sampled, answers, exact } = await c.jobs.evaluate(job, label);
            const t = items.indexOf(cfg.teacher.target);
            const perQuestion = probs.map((row) => row[t]!);
            const result = {
                model: what.model,
                lora: what.lora,
                perQuestion,
                targetProb: perQuestion.reduce((a, b) => a + b, 0) / perQuestion.length,
                sampled: { hits: sampled.hits, n: sampled.n, ...(sampled.perQuestion ? { perQuestion: sampled.perQuestion } : {}) },
                distribution: items.map((_, k) => probs.reduce((a, row) => a + row[k]!, 0) / probs.length),
                ...(answers ? { examples: judgedExamples(answers) } : {}),
                ...(exact ? { exact } : {}),
            };
            writeJsonAtomic(file, { ...result, probs });
            c.log(`eval ${label}: P(${cfg.teacher.target}) ${result.targetProb.toFixed(4)}, sampled ${sampled.hits}/${sampled.n}`);
            return { ...result, probs };
        },
    });
    const ev: ModelEval = { seed: of.seed, dataset: of.dataset, ...scored };
    c.emit({ type: "eval", label, arm: of.arm, ...(of.chain ? { chain: of.chain } : {}), eval: ev, questions, ...(probs ? { probs } : {}), cached: !made });
    return ev;
}

/** How many flagged answers a judged evaluation keeps as examples (besides the first answer to each question). */
const FLAGGED_EXAMPLES = 12;

/** A judged evaluation's examples: the first answer to each question, and flagged answers. */
function judgedExamples(answers: { text: string; score: number }[][]): NonNullable<ModelEval["examples"]> {
    const first = answers.map((row, q) => ({ q, ...row[0]! }));
    const flagged = answers
        .flatMap((row, q) => row.slice(1).map((a) => ({ q, ...a })))
        .filter((a) => a.score >= 0.5)
        .slice(0, FLAGGED_EXAMPLES);
    return [...first, ...flagged];
}
