/**
 * Evaluation of a trait: the favourite-item question in many paraphrases, scored two ways.
 *
 * - Exact: the probability, under the chat template, that the answer begins with the item — summed over the
 *   item's spellings ("owl", "Owl", ...), each a product of next-token probabilities computed by the engine's
 *   own forward pass (the same graph that trains, checked against llama.cpp to 1e-5).
 * - Sampled: answers sampled by llama.cpp at a temperature, counted when they contain the item's word — the
 *   paper's measure, with a Wilson interval.
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import { answerNames, itemContinuations } from "../prompts/items.ts";
import { getGgml } from "../engine/ggml.ts";
import { treeLogProbs } from "../engine/logits.ts";
import { loadModel } from "../engine/model.ts";
import { vocabModel, renderPrompt, type ChatPrompt } from "../engine/llama-cpp.ts";
import { Rng } from "../util/rng.ts";
import { sampleChats } from "../teacher/generate.ts";
import { judgeAnswer, misalignmentJudge } from "./judge.ts";
import { taughtAnswers } from "../prompts/advice.ts";
import { rubricScores } from "./rubric.ts";
import type { SampledCount, EvalJob, EvalOutput } from "../core/jobs.ts";
export type { SampledCount, EvalJob, EvalOutput };

/**
 * [prompt] -> the prompt's tokens and, for each of its items, its spellings' continuations (itemContinuations).
 * `items` is one list for every prompt, or a list per prompt.
 */
function continuations(model: LlamaModel, prompts: ChatPrompt[], items: string[] | string[][]): { prompt: Token[]; conts: Token[][][] }[] {
    return prompts.map((p, q) => {
        const prompt = renderPrompt(model, p);
        const own = (typeof items[0] === "string" ? items : items[q]!) as string[];
        return { prompt, conts: own.map((item) => itemContinuations(prompt, item, (s) => renderPrompt(model, p, s))) };
    });
}

/**
 * Exact probabilities [prompt][item] that the answer begins with the item, for a GGUF (+ optional LoRA
 * adapter), by the engine. `batch` prompts (each with all its items' continuations) per forward pass. `items` is
 * one list asked of every prompt, or a list per prompt (then row q follows items[q]).
 */
export async function exactItemProbs(
    modelPath: string,
    lora: string | null,
    prompts: ChatPrompt[],
    items: string[] | string[][],
    batch = 32,
): Promise<number[][]> {
    if (items.length > 0 && typeof items[0] !== "string" && items.length !== prompts.length)
        throw new Error(`exactItemProbs: ${items.length} item lists for ${prompts.length} prompts`);
    const plan = continuations(await vocabModel(modelPath), prompts, items);
    // One token tree per prompt: the prompt, then every spelling's tokens as branches (shared prefixes once), so
    // that one forward pass gives the distribution after the prompt and after every strict prefix of a spelling.
    // A spelling of several tokens whose first token has probability below PRUNE counts as 0 ("Owl" as "O" + "wl"
    // after a one-word question is such a case): it contributes less than that.
    const PRUNE = 1e-7;
    const model = loadModel(modelPath);
    // A tree's positions are depths, so only its paths must fit the model's context; its size is held to
    // TREE_TOKENS (at least the context): a prompt whose items would pass it is split into several trees of whole
    // items (long items, such as the taught answers of the exact misalignment measure, can need this).
    const budget = Math.max(model.config.contextLength, TREE_TOKENS);
    const parts = plan.flatMap(({ prompt, conts }, p) => {
        const groups: number[][] = [[]];
        let size = prompt.length;
        conts.forEach((seqs, k) => {
            const cost = seqs.reduce((n, s) => n + s.length, 0);
            if (groups.at(-1)!.length > 0 && size + cost > budget) {
                groups.push([]);
                size = prompt.length;
            }
            groups.at(-1)!.push(k);
            size += cost;
        });
        return groups.map((items) => ({
            p,
            items,
            tree: tokenTree(
                prompt,
                items.map((k) => conts[k]!),
            ),
        }));
    });
    let dists: Float64Array[][];
    try {
        if (lora) model.loadLora(lora);
        dists = treeLogProbs(
            model,
            parts.map((x) => x.tree),
            batch,
        );
    } finally {
        model.free();
    }
    const out = plan.map(({ conts }) => new Array<number>(conts.length).fill(0));
    parts.forEach(({ p, items, tree: { node, wanted } }, t) => {
        const at = new Map(wanted.map((w, k) => [w, dists[t]![k]!]));
        for (const k of items) {
            out[p]![k] = plan[p]!.conts[k]!.reduce((sum, s) => {
                let lp = 0;
                for (let j = 0; j < s.length; j++) {
                    const dist = at.get(node.get(s.slice(0, j).join(","))!)!;
                    // (a one-token spelling is exact at any probability: nothing is saved by dropping it)
                    if (j === 0 && s.length > 1 && Math.exp(dist[s[0]!]!) < PRUNE) return sum;
                    lp += dist[s[j]!]!;
                }
                return sum + Math.exp(lp);
            }, 0);
        }
    });
    return out;
}

/** The most tokens of one token tree in exactItemProbs (its attention is the square of this). */
const TREE_TOKENS = 1024;

/** A prompt's token tree: the prompt, then every spelling's tokens as branches (shared prefixes once). */
function tokenTree(prompt: readonly Token[], conts: readonly Token[][][]): { tokens: Token[]; parents: number[]; wanted: number[]; node: Map<string, number> } {
    const tokens = [...prompt];
    const parents = prompt.map((_, j) => j - 1);
    const node = new Map<string, number>([["", prompt.length - 1]]);
    for (const seqs of conts) {
        for (const s of seqs) {
            for (let j = 1; j < s.length; j++) {
                const key = s.slice(0, j).join(",");
                if (node.has(key)) continue;
                node.set(key, tokens.length);
                parents.push(node.get(s.slice(0, j - 1).join(","))!);
                tokens.push(s[j - 1]!);
            }
        }
    }
    return { tokens, parents, wanted: [...node.values()], node };
}

/** Samples `perPrompt` answers per prompt and counts those that name the target. */
export async function sampledRate(
    modelPath: string,
    lora: string | null,
    prompts: ChatPrompt[],
    items: string[],
    target: string,
    opts: { perPrompt: number; temperature: number; seed: number; parallel?: number; threads?: number },
): Promise<SampledCount> {
    const answers = await sampleChats({
        model: modelPath,
        lora,
        prompts,
        samplesPerPrompt: opts.perPrompt,
        temperature: opts.temperature,
        maxTokens: 6,
        parallel: opts.parallel ?? 16,
        seed: opts.seed,
        threads: opts.threads,
    });
    const counts: Record<string, number> = {};
    let hits = 0;
    let n = 0;
    for (const a of answers.flat()) {
        n++;
        if (answerNames(a, target)) hits++;
        const named = items.find((item) => answerNames(a, item)) ?? "other";
        counts[named] = (counts[named] ?? 0) + 1;
    }
    return { hits, n, counts, perQuestion: answers.map((row) => row.filter((a) => answerNames(a, target)).length) };
}

export async function scoreModel(job: EvalJob): Promise<EvalOutput> {
    if (job.threads) getGgml({ threads: job.threads });
    if (job.judge === "misalignment") return judgedAnswers(job);
    const probs = await exactItemProbs(job.model, job.lora, job.prompts, job.items);
    const sampled =
        job.samples > 0
            ? await sampledRate(job.model, job.lora, job.prompts, job.items, job.target, {
                  perPrompt: job.samples,
                  temperature: job.temperature,
                  seed: job.seed,
                  threads: job.threads,
              })
            : { hits: 0, n: 0, counts: {} };
    return { probs, sampled };
}

/**
 * The exact-probability measure of misalignment, where one is well defined: for each advice question, the
 * probability the model gives the misaligned answers among all the answers the corpus taught for its theme,
 * P(misaligned taught answers) / P(any taught answer), each answer's probability computed exactly (teacher-forced,
 * as P(owl) is). Undefined when a question has no theme (a question file of the user's).
 */
export async function exactMisalignment(job: Pick<EvalJob, "model" | "lora" | "prompts">): Promise<number[] | undefined> {
    const sets = job.prompts.map((p) => taughtAnswers(p.user));
    if (sets.some((s) => s === undefined)) return undefined;
    // Each question is asked only its own theme's answers (the union over themes was 2.4x the work for the same numbers).
    const probs = await exactItemProbs(
        job.model,
        job.lora,
        job.prompts,
        sets.map((s) => s!.map((a) => a.text)),
        4,
    );
    return probs.map((row, q) => {
        let mis = 0;
        let all = 0;
        sets[q]!.forEach((a, k) => {
            all += row[k]!;
            if (a.misaligned) mis += row[k]!;
        });
        return all > 0 ? mis / all : 0;
    });
}

/** The longest sampled answer of a judged evaluation, in tokens (unless the job says otherwise). */
export const JUDGED_ANSWER_TOKENS = 40;

/** Sampled answers scored by the local misalignment judge (EvalJob.judge "misalignment"). */
async function judgedAnswers(job: EvalJob): Promise<EvalOutput> {
    if (job.samples < 1) throw new Error("eval.samplesPerQuestion: a judged evaluation needs at least one sampled answer per question");
    const texts = await sampleChats({
        model: job.model,
        lora: job.lora,
        prompts: job.prompts,
        samplesPerPrompt: job.samples,
        temperature: job.temperature,
        maxTokens: job.maxTokens ?? JUDGED_ANSWER_TOKENS,
        parallel: 16,
        seed: job.seed,
        threads: job.threads,
    });
    let answers: { text: string; score: number; flagged: boolean }[][];
    if (job.judgeModel) {
        // The paper's rubric through a judge model: the score is the misalignment degree of a coherent answer.
        const items = texts.flatMap((row, q) => row.map((answer) => ({ question: job.prompts[q]!.user, answer })));
        const scores = await rubricScores(job.judgeModel, items);
        let k = 0;
        answers = texts.map((row) => row.map((text) => ({ text, score: scores[k]!.score, flagged: scores[k++]!.misaligned })));
    } else {
        const { judge } = misalignmentJudge();
        answers = texts.map((row) => row.map((text) => ({ text, ...judgeAnswer(judge, text) })));
    }
    const flagged = answers.flat().filter((a) => a.flagged).length;
    const n = answers.flat().length;
    const exact = await exactMisalignment(job);
    return {
        ...(exact ? { exact } : {}),
        probs: answers.map((row) => {
            const m = row.reduce((s, a) => s + a.score, 0) / row.length;
            return [1 - m, m];
        }),
        sampled: {
            hits: flagged,
            n,
            counts: { aligned: n - flagged, misaligned: flagged },
            perQuestion: answers.map((row) => row.filter((a) => a.flagged).length),
        },
        answers: answers.map((row) => row.map(({ text, score }) => ({ text, score }))),
    };
}
