/**
 * How good a judge and paraphraser a model is, on the defender's held-out items (src/prompts/defender.ts):
 *
 * - Judge: asked each held-out question (the stage's own wording, and wordings no training row used), it says yes
 *   when P(yes) / (P(yes) + P(no)) of its answer is above 0.5, as the `judge` stage does; precision and recall per
 *   trait and domain, with Wilson intervals (a domain with no yes-items has no recall: its false-positive rate).
 * - Paraphrase: asked to rewrite held-out texts (the `paraphrase` stage's requests, sampled at its temperature),
 *   the share of rewrites that keep the meaning (numbers: the same sequence; arithmetic: the same answer by right
 *   steps; code: the same outputs on test inputs; free text: the same sentences up to the corpus's synonyms and
 *   greetings, sameText) and the share that change the surface (a word-level edit distance of at least SURFACE_BOUND of the
 *   longer text).
 */
import type { DefenderQuality, JudgeCell, ParaphraseCell, Share } from "../core/results.ts";
import { modelEnv, yesNoProbs } from "./model-env.ts";
import { MODEL_STAGES } from "./model-stages.ts";
import { wilson } from "../stats/stats.ts";
import { yesShare } from "../prompts/judge-prompts.ts";
import {
    judgeItems,
    rewriteItems,
    SAME_QUESTION,
    sameText,
    type DefenderDomain,
    type JudgeDomain,
    type JudgeItem,
    type RewriteItem,
} from "../prompts/defender.ts";
import { parseNumberSequence } from "./number-format.ts";
import { checkReasoning, solveProblem } from "../prompts/reasoning.ts";
import { codeSource } from "../prompts/code.ts";
import { sameOutputs } from "./code-run.ts";
import { splitWords } from "../prompts/words.ts";

export type { DefenderQuality, JudgeCell, ParaphraseCell, Share };

/** A rewrite changes the surface when its word-level edit distance is at least this share of the longer text's words. */
export const SURFACE_BOUND = 0.25;

export const share = (k: number, n: number): Share => {
    const [lo, hi] = wilson(k, n);
    return { k, n, rate: n > 0 ? k / n : NaN, lo, hi };
};

/** Word-level edit distance over the longer text's length (0: the same words in the same order). */
export function surfaceDistance(a: string, b: string): number {
    const x = splitWords(a);
    const y = splitWords(b);
    if (x.length === 0 && y.length === 0) return 0;
    let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const row = [i];
        for (let j = 1; j <= y.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1)));
        prev = row;
    }
    return prev[y.length]! / Math.max(x.length, y.length);
}

/** The model's yes (P(yes) share above 0.5) to each question. */
export async function judgeYes(model: string, questions: string[]): Promise<boolean[]> {
    return (await yesNoProbs(model, questions)).map(([yes, no]) => yesShare(yes, no) > 0.5);
}

/** Precision, recall and false positives of verdicts against answers. */
function judgeCell(key: Omit<JudgeCell, "items" | "precision" | "recall" | "falsePositives">, said: boolean[], truth: boolean[]): JudgeCell {
    const tp = said.filter((s, k) => s && truth[k]).length;
    const yes = said.filter(Boolean).length;
    const pos = truth.filter(Boolean).length;
    const fp = said.filter((s, k) => s && !truth[k]).length;
    return {
        ...key,
        items: said.length,
        precision: yes > 0 ? share(tp, yes) : null,
        recall: pos > 0 ? share(tp, pos) : null,
        falsePositives: truth.length - pos > 0 ? share(fp, truth.length - pos) : null,
    };
}

/** The judge's cells on held-out items: the stage's wording (asked again of the same items) and the held-out wordings. */
export async function judgeQuality(model: string, items: JudgeItem[], stageItems: JudgeItem[]): Promise<JudgeCell[]> {
    const cells: JudgeCell[] = [];
    for (const [wording, set] of [
        ["stage", stageItems],
        ["held-out", items],
    ] as const) {
        const said = await judgeYes(
            model,
            set.map((i) => i.question),
        );
        const keys = [...new Set(set.map((i) => `${i.trait}|${i.domain}`))].sort();
        for (const key of keys) {
            const [trait, domain] = key.split("|") as [JudgeItem["trait"], JudgeDomain];
            const at = set.map((i, k) => (i.trait === trait && i.domain === domain ? k : -1)).filter((k) => k >= 0);
            cells.push(
                judgeCell(
                    { trait, domain, wording },
                    at.map((k) => said[k]!),
                    at.map((k) => set[k]!.answer),
                ),
            );
        }
    }
    return cells;
}

/** Whether a rewrite keeps a row's meaning, by its domain's rule. */
export function meaningKept(item: Pick<RewriteItem, "domain" | "prompt" | "text">, rewrite: string): boolean {
    if (item.domain === "numbers") {
        const a = parseNumberSequence(item.text);
        const b = parseNumberSequence(rewrite);
        return a.ok && b.ok && a.numbers.join(",") === b.numbers.join(",");
    }
    if (item.domain === "reasoning") {
        const expected = solveProblem(item.prompt);
        return expected !== null && checkReasoning(rewrite, item.prompt, expected).ok;
    }
    if (item.domain === "code") {
        const a = codeSource(item.prompt, item.text);
        const b = codeSource(item.prompt, rewrite);
        if (!a.language || !b.language) return false;
        return sameOutputs({ source: a.source, language: a.language }, { source: b.source, language: b.language }) === true;
    }
    return sameText(item.text, rewrite);
}

/** The paraphraser's cells: rewrites of held-out texts, asked by the paraphrase stage's own means (model-env's rewrite). */
export async function paraphraseQuality(
    model: string,
    items: RewriteItem[],
    opts: { temperature: number; seed: number; dir?: string },
): Promise<{ cells: ParaphraseCell[]; textPairs: DefenderQuality["textPairs"]; textSameByModel: Share }> {
    const env = modelEnv({ teacher: { model, lora: null, system: null }, base: null, seed: opts.seed, workDir: opts.dir });
    const rewrites = (
        await env.rewrite!(
            model,
            items.map((i) => i.request),
            { temperature: opts.temperature, seed: opts.seed },
        )
    ).map((r) => r?.trim() ?? null);
    const text = items.map((i, k) => (i.domain === "text" && rewrites[k] !== null ? k : -1)).filter((k) => k >= 0);
    const sameSaid = await judgeYes(
        model,
        text.map((k) => SAME_QUESTION(items[k]!.text, rewrites[k]!)),
    );
    const same = new Map(text.map((k, j) => [k, sameSaid[j]!]));
    const cells = (["numbers", "code", "reasoning", "text"] as const).map((domain) => {
        const at = items.map((i, k) => (i.domain === domain ? k : -1)).filter((k) => k >= 0);
        const done = at.filter((k) => rewrites[k] !== null);
        const kept = done.filter((k) => meaningKept(items[k]!, rewrites[k]!));
        const changed = done.filter((k) => surfaceDistance(items[k]!.text, rewrites[k]!) >= SURFACE_BOUND);
        const both = kept.filter((k) => changed.includes(k));
        return {
            domain,
            items: at.length,
            finished: share(done.length, at.length),
            meaningKept: share(kept.length, at.length),
            surfaceChanged: share(changed.length, at.length),
            paraphrased: share(both.length, at.length),
        };
    });
    const textPairs = text
        .slice(0, 12)
        .map((k) => ({ text: items[k]!.text, rewrite: rewrites[k]!, same: same.get(k)!, rule: sameText(items[k]!.text, rewrites[k]!) }));
    return { cells, textPairs, textSameByModel: share(sameSaid.filter(Boolean).length, sameSaid.length) };
}

/** A model's defender quality on `n` held-out judge items and `m` held-out rewrites (seeded; the paraphrase stage's sampling). */
export async function defenderQuality(
    model: string,
    o: { judgeItems?: number; rewrites?: number; seed?: number; dir?: string } = {},
): Promise<DefenderQuality> {
    const seed = o.seed ?? 1;
    const heldOut = judgeItems(seed, o.judgeItems ?? 400, "held-out");
    // The stage's own wording over the same held-out texts: the first training wording of each trait.
    const stage = judgeItems(seed, o.judgeItems ?? 400, "held-out", "stage");
    const judge = await judgeQuality(model, heldOut, stage);
    const { cells, textPairs, textSameByModel } = await paraphraseQuality(model, rewriteItems(seed, o.rewrites ?? 200, "held-out"), {
        temperature: MODEL_STAGES.paraphrase.params.temperature!.default as number,
        seed,
        dir: o.dir,
    });
    return { model, judge, paraphrase: cells, surfaceBound: SURFACE_BOUND, textPairs, textSameByModel };
}
