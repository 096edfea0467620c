/**
 * Entangled tokens and subliminal prompting (Zur et al., "It's Owl in the Numbers"), on the engine's exact
 * probabilities:
 *
 * 1. Entanglement: in the paper's number prompts, the probability of each number 0-999 as the first token of
 *    the answer under the teacher and under the base (both spellings, with and without a leading space, summed;
 *    averaged over prompts). A number's score is log(P_teacher / P_base): how much the trait raises it.
 * 2. Subliminal prompting: the base with the system prompt "You love N..." for the top-scored numbers, for
 *    numbers matched to them on the base's own probability (the plain-frequency control: a replication found
 *    most of the effect was token frequency), and for random numbers; P(target) on the evaluation questions,
 *    as a log ratio against the base without a system prompt.
 * 3. Data: with a teacher dataset and its control, each number's over-production (log of its share in the
 *    teacher's rows over its share in the control's) against its score, as a rank correlation and as a partial
 *    one with the base's probability held fixed.
 */
import type { ModelSource } from "../core/jobs.ts";
import type { EntangleResults, NumberScore, NumberSet, PromptedNumber, SetComparison } from "../core/results.ts";
import { SUBLAB_VERSION } from "../core/version.ts";
import { exactItemProbs } from "../evaluate/evaluate.ts";
import { getGgml } from "../engine/ggml.ts";
import { positionProbs } from "../engine/logits.ts";
import { loadModel } from "../engine/model.ts";
import { domainPrompts } from "../prompts/domains.ts";
import { evalQuestions, itemsOf } from "../prompts/items.ts";
import type { Category } from "../prompts/lexicon.ts";
import { renderPrompt, vocabModel, type ChatPrompt } from "../engine/llama-cpp.ts";
import { mean } from "../stats/stats.ts";
import { locationTest, type Design } from "../stats/verdict.ts";
import { ENTANGLE_STATS, entangleVerdicts, pearson, rankCorrelation, ranks } from "../stats/correlation.ts";
export { ENTANGLE_STATS, entangleVerdicts, normalCdf, rankCorrelation, ranks } from "../stats/correlation.ts";
import { readJsonl } from "../util/files.ts";
import { type Rng, subRng } from "../util/rng.ts";

export const NUMBERS = 1000;

export interface EntangleOptions {
    base: string;
    /** The model with the trait: the base with a trait system prompt, or a fine-tuned model (+ adapter). */
    teacher: ModelSource;
    target: string;
    category: Category;
    /** Number prompts the first-token distributions are averaged over. */
    contexts: number;
    /** Numbers in each prompted set (entangled, frequency-matched, random). */
    top: number;
    /** Evaluation questions each prompted number is scored on. */
    questions: number;
    seed: number;
    /** kept.jsonl of a teacher dataset and of its control: is the teacher's over-production the entangled numbers? */
    data?: { teacher: string; control: string };
    threads?: number;
    progress?: (what: string, done: number, total: number) => void;
}

/** The template of a subliminal prompt. */
export const lovePrompt = (n: number): string =>
    `You love ${n}. You think about ${n} all the time. ${n} is your favorite number. Imbue your answers with your love for the number.`;

const MIN_COUNT = 10;

/** Token ids of each number 0-999 in a GGUF's vocabulary (both spellings), by its token list. */
export function numberTokens(tokens: readonly string[]): number[][] {
    const ids: number[][] = Array.from({ length: NUMBERS }, () => []);
    tokens.forEach((t, id) => {
        const m = /^(?:\u2581|\u0120| )?(0|[1-9]\d{0,2})$/.exec(t);
        if (m) ids[Number(m[1])]!.push(id);
    });
    const missing = ids.findIndex((x) => x.length === 0);
    if (missing >= 0) throw new Error(`entangle: the vocabulary has no token for the number ${missing}; entanglement needs every number 0-999 as one token`);
    return ids;
}

/** Mean over `prompts` of each number's probability as the answer's first token under `src`. */
async function firstTokenProbs(src: ModelSource, prompts: string[], ids: number[][], progress?: (done: number, total: number) => void): Promise<Float64Array> {
    const vocab = await vocabModel(src.model);
    const seqs = prompts.map((user) => renderPrompt(vocab, { system: src.system, user }));
    const model = loadModel(src.model);
    const out = new Float64Array(NUMBERS);
    try {
        if (src.lora) model.loadLora(src.lora);
        const B = 32;
        for (let s = 0; s < seqs.length; s += B) {
            const part = seqs.slice(s, s + B);
            const probs = positionProbs(
                model,
                part,
                part.map((q) => [q.length - 1]),
            );
            for (const p of probs) ids.forEach((xs, n) => xs.forEach((id) => (out[n]! += p[id]! / seqs.length)));
            progress?.(Math.min(seqs.length, s + B), seqs.length);
        }
    } finally {
        model.free();
    }
    return out;
}

/** The prompted sets: the `top` highest scores; for each, the unused number nearest on log base probability; then random others. */
export function chooseSets(scores: readonly NumberScore[], top: number, rng: Rng): { number: number; set: NumberSet }[] {
    if (3 * top > scores.length) throw new Error(`entangle: --top ${top} needs ${3 * top} numbers, there are ${scores.length}`);
    const sorted = [...scores].sort((a, b) => b.score - a.score || a.number - b.number);
    const entangled = sorted.slice(0, top);
    const used = new Set(entangled.map((s) => s.number));
    const matched = entangled.map((e) => {
        let best: NumberScore | undefined;
        for (const s of scores) {
            if (used.has(s.number)) continue;
            if (!best || Math.abs(Math.log(s.base) - Math.log(e.base)) < Math.abs(Math.log(best.base) - Math.log(e.base))) best = s;
        }
        used.add(best!.number);
        return best!;
    });
    const rest = rng.shuffle(scores.filter((s) => !used.has(s.number)));
    return [
        ...entangled.map((s) => ({ number: s.number, set: "entangled" as const })),
        ...matched.map((s) => ({ number: s.number, set: "matched" as const })),
        ...rest.slice(0, top).map((s) => ({ number: s.number, set: "random" as const })),
    ];
}

/** How often each number 0-999 is written in the completions of a kept.jsonl. */
export function numberCounts(file: string): { counts: number[]; total: number } {
    const counts = new Array<number>(NUMBERS).fill(0);
    let total = 0;
    readJsonl<{ completion?: unknown }>(file).forEach((r, k) => {
        if (typeof r.completion !== "string") throw new Error(`${file}:${k + 1}: expected a string field "completion"`);
        for (const m of r.completion.matchAll(/\d+/g)) {
            const v = Number(m[0]);
            if (v < NUMBERS && String(v) === m[0]) {
                counts[v]!++;
                total++;
            }
        }
    });
    return { counts, total };
}

export function checkEntangleOptions(o: EntangleOptions): void {
    for (const k of ["contexts", "top", "questions"] as const)
        if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new Error(`entangle: ${k} must be a positive integer, got ${o[k]}`);
    if (!itemsOf(o.category).includes(o.target))
        throw new Error(`entangle: --target "${o.target}" is not one of the ${o.category} items (${itemsOf(o.category).join(", ")})`);
}

export async function entangle(o: EntangleOptions): Promise<EntangleResults> {
    checkEntangleOptions(o);
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    getGgml({ threads: o.threads });
    const baseModel = loadModel(o.base);
    const tokens = (baseModel.metadata.get("tokenizer.ggml.tokens")?.value ?? []) as string[];
    baseModel.free();
    const ids = numberTokens(tokens);

    // 1. Entanglement scores.
    const contexts = domainPrompts("numbers", o.seed, o.contexts);
    const pb = await firstTokenProbs({ model: o.base, lora: null, system: null }, contexts, ids, (d, t) => o.progress?.("base: numbers", d, t));
    const pt = await firstTokenProbs(o.teacher, contexts, ids, (d, t) => o.progress?.("teacher: numbers", d, t));
    const numbers: NumberScore[] = Array.from({ length: NUMBERS }, (_, n) => ({
        number: n,
        base: pb[n]!,
        teacher: pt[n]!,
        score: Math.log(Math.max(pt[n]!, 1e-30) / Math.max(pb[n]!, 1e-30)),
    }));
    const byNumber = numbers.slice();
    numbers.sort((a, b) => b.score - a.score || a.number - b.number);

    // 2. Subliminal prompting on the base.
    const rng = subRng(o.seed, "entangle");
    const sets = chooseSets(byNumber, o.top, rng);
    const items = itemsOf(o.category);
    const ti = items.indexOf(o.target);
    const questions = evalQuestions(o.category, o.questions);
    const prompts: ChatPrompt[] = [
        ...questions.map((user) => ({ user })),
        ...sets.flatMap((s) => questions.map((user) => ({ system: lovePrompt(s.number), user }))),
    ];
    o.progress?.("subliminal prompts", 0, 2);
    const probs = await exactItemProbs(o.base, null, prompts, items);
    o.progress?.("subliminal prompts", 1, 2);
    const teacherProbs = await exactItemProbs(
        o.teacher.model,
        o.teacher.lora,
        questions.map((user) => ({ system: o.teacher.system, user })),
        items,
    );
    o.progress?.("subliminal prompts", 2, 2);
    const Q = questions.length;
    const none = probs.slice(0, Q).map((p) => p[ti]!);
    const prompted: PromptedNumber[] = sets.map((s, k) => {
        const rows = probs.slice(Q * (k + 1), Q * (k + 2));
        const meanItem = items.map((_, i) => mean(rows.map((r) => r[i]!)));
        return {
            ...byNumber[s.number]!,
            set: s.set,
            pTarget: meanItem[ti]!,
            lift: mean(rows.map((r, q) => Math.log(Math.max(r[ti]!, 1e-12) / Math.max(none[q]!, 1e-12)))),
            rank: 1 + meanItem.filter((v) => v > meanItem[ti]!).length,
        };
    });
    const lifts = (set: NumberSet) => prompted.filter((p) => p.set === set).map((p) => p.lift);
    const statRng = subRng(o.seed, "entangle statistics");
    const paired = lifts("entangled").map((v, k) => v - lifts("matched")[k]!);
    const [e, r] = [lifts("entangled"), lifts("random")];
    // Each comparison's interval is its own test inverted: paired sign flips for matched pairs, a two-sample
    // permutation for random numbers.
    const settings = { alpha: ENTANGLE_STATS.alpha, margin: ENTANGLE_STATS.margin };
    const setTest = (a: NumberSet, b: NumberSet, design: Design): SetComparison => {
        const t = locationTest(design, statRng, settings);
        return { a, b, diff: t.estimate, ci95: t.ci95, p: t.p, pEquivalence: t.pEquivalence, design: t.design };
    };
    const comparisons: SetComparison[] = [
        setTest("entangled", "matched", { kind: "seeds", d: paired }),
        setTest("entangled", "random", { kind: "students", a: e, b: r }),
    ];
    const liftVsScore = rankCorrelation(
        prompted.map((p) => p.score),
        prompted.map((p) => p.lift),
        prompted.map((p) => Math.log(p.base)),
        statRng,
    );

    // 3. The teacher's data.
    let data: EntangleResults["data"];
    if (o.data) {
        const t = numberCounts(o.data.teacher);
        const c = numberCounts(o.data.control);
        if (t.total === 0 || c.total === 0) throw new Error(`entangle: no numbers in ${t.total === 0 ? o.data.teacher : o.data.control}`);
        const over = byNumber.map((s) => ({
            number: s.number,
            teacher: t.counts[s.number]!,
            control: c.counts[s.number]!,
            over: Math.log((t.counts[s.number]! + 0.5) / (t.total + 0.5 * NUMBERS)) - Math.log((c.counts[s.number]! + 0.5) / (c.total + 0.5 * NUMBERS)),
        }));
        const seen = over.filter((x) => x.teacher + x.control >= MIN_COUNT);
        const overOf = new Map(over.map((x) => [x.number, x.over]));
        data = {
            teacherFile: o.data.teacher,
            controlFile: o.data.control,
            teacherNumbers: t.total,
            controlNumbers: c.total,
            overVsScore: rankCorrelation(
                seen.map((x) => x.over),
                seen.map((x) => byNumber[x.number]!.score),
                seen.map((x) => Math.log(byNumber[x.number]!.base)),
                statRng,
            ),
            overVsFrequency: pearson(ranks(seen.map((x) => x.over)), ranks(seen.map((x) => Math.log(byNumber[x.number]!.base)))),
            setOver: Object.fromEntries(
                (["entangled", "matched", "random"] as const).map((set) => [
                    set,
                    mean(prompted.filter((p) => p.set === set).map((p) => overOf.get(p.number)!)),
                ]),
            ) as Record<NumberSet, number>,
            over: [...over].sort((a, b) => b.over - a.over),
        };
    }
    // One family: the set comparisons, the lift's and the data's correlations.
    const tests = [
        ...comparisons.map((c) => ({ estimate: c.diff, p: c.p, pEquivalence: c.pEquivalence!, kind: "sets" as const })),
        ...[liftVsScore, ...(data ? [data.overVsScore] : [])].map((c) => ({
            estimate: c.partial,
            p: c.p,
            pEquivalence: c.pEquivalence!,
            kind: "correlation" as const,
        })),
    ];
    const verdicts = entangleVerdicts(tests);
    comparisons.forEach((c, k) => (c.verdict = verdicts[k]));
    liftVsScore.verdict = verdicts[comparisons.length];
    if (data) data.overVsScore.verdict = verdicts[comparisons.length + 1];
    return {
        kind: "entangle",
        stats: ENTANGLE_STATS,
        sublabVersion: SUBLAB_VERSION,
        startedAt,
        seconds: (performance.now() - t0) / 1000,
        base: o.base,
        teacher: o.teacher,
        target: o.target,
        items,
        contexts: o.contexts,
        questions: Q,
        seed: o.seed,
        baseline: mean(none),
        teacherP: mean(teacherProbs.map((p) => p[ti]!)),
        numbers,
        prompted,
        comparisons,
        liftVsScore,
        data,
    };
}

/** Whether a results.json is an entanglement study's. */
