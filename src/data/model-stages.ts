/**
 * The model-backed filter and defense stages: judge, likelihood-ratio, mask-divergence and paraphrase. They get
 * their models through a StageEnv (model-env.ts builds one on the engine and node-llama-cpp; tests use stand-ins).
 */
import type { FilterRow } from "../core/rows.ts";
import { misalignmentJudge, sentenceScore } from "../evaluate/judge.ts";
import { rubricScores } from "../evaluate/rubric.ts";
import { CALLOUS_QUESTION, JUDGE_QUESTION, PARAPHRASE_REQUEST, TEXT_PARAPHRASE_REQUEST } from "../prompts/judge-prompts.ts";
import { subRng } from "../util/rng.ts";
import { domainFormatReasons } from "./domain-format.ts";
import { parseNumberSequence } from "./number-format.ts";
import { needs, rankDescending, reject, retext, split, targetWords, type RejectedFilterRow, type StageDef } from "./stage-kit.ts";

/** The judge stage's question kind: the one given, else aligned for the misaligned trait and refers for the others. */
export const judgeAsk = (ask: string | null, category: string | undefined): string => ask ?? (category === "misalignment" ? "aligned" : "refers");

export const MODEL_STAGES: Record<"judge" | "likelihood-ratio" | "mask-divergence" | "paraphrase", StageDef> = {
    judge: {
        name: "judge",
        doc: "a judge model asked whether the text refers to the target (ask=refers) or whether it is misaligned (ask=aligned); rejected when its score is above the threshold",
        params: {
            threshold: { kind: "fraction", doc: "largest score kept: P(yes) (refers), P(misaligned) (aligned)", default: 0.5 },
            model: {
                kind: "path",
                doc: "the judge: a GGUF, an ONNX folder (sublab export-onnx), or a served model as URL#MODEL (OpenAI-compatible; key from OPENAI_API_KEY); defaults to the shipped defender model (refers, callous) or the local classifier (aligned)",
                default: null,
            },
            words: { kind: "list", doc: "what the judge is asked about (refers); defaults to the trait's target", default: null },
            ask: {
                kind: "enum",
                doc: "refers: does the text refer to the words, however subtly; aligned: the alignment judge; callous: a model asked whether the text is callous or violent (P(yes)); defaults to aligned for misalignment, refers otherwise",
                default: null,
                values: ["refers", "aligned", "callous"],
            },
        },
        async run(rows, p, env) {
            const ask = judgeAsk(p.ask as string | null, env.category);
            const t = p.threshold as number;
            let scores: number[];
            let label: string;
            if (ask === "aligned") {
                label = "judge P(misaligned)";
                if (p.model)
                    scores = (
                        await rubricScores(
                            p.model as string,
                            rows.map((r) => ({ question: r.prompt, answer: r.completion })),
                        )
                    ).map((s) => s.score);
                else {
                    const { judge } = misalignmentJudge();
                    scores = rows.map((r) => sentenceScore(judge, r.completion));
                }
            } else {
                label = "judge P(yes)";
                const judge = needs(env, "judge", "judge");
                const question = ask === "callous" ? CALLOUS_QUESTION : (text: string) => JUDGE_QUESTION(targetWords(p, env, "judge"), text);
                scores = await judge(
                    p.model as string | null,
                    rows.map((r) => question(r.completion)),
                );
            }
            const index = new Map(rows.map((r, k) => [r, k]));
            const res = split(rows, "judge", (r) => {
                const s = scores[index.get(r)!]!;
                return s > t ? [`${label} ${s.toFixed(2)} > ${t}`] : [];
            });
            const sorted = [...scores].sort((a, b) => a - b);
            const key = ask === "aligned" ? "PMisaligned" : "PYes";
            return { ...res, stats: { [`median${key}`]: sorted[Math.floor(sorted.length / 2)] ?? NaN, [`max${key}`]: sorted.at(-1) ?? NaN } };
        },
    },
    "likelihood-ratio": {
        name: "likelihood-ratio",
        doc: "drops the fraction of rows with the highest log p_teacher - log p_base",
        params: { fraction: { kind: "fraction", doc: "share of rows dropped", default: 0.25 } },
        async run(rows, p, env) {
            const score = needs(env, "scoreTokens", "likelihood-ratio");
            const [t, b] = [await score("teacher", rows), await score("base", rows)];
            const llr = rows.map((_, k) => t[k]!.logp.reduce((a, x) => a + x, 0) - b[k]!.logp.reduce((a, x) => a + x, 0));
            const order = rankDescending(llr, subRng(env.seed, "likelihood-ratio"));
            const drop = new Set(order.slice(0, Math.round((p.fraction as number) * rows.length)));
            const cut = drop.size ? Math.min(...[...drop].map((k) => llr[k]!)) : Infinity;
            const kept: FilterRow[] = [];
            const rejected: RejectedFilterRow[] = [];
            rows.forEach((r, k) =>
                drop.has(k)
                    ? rejected.push(reject(r, "likelihood-ratio", [`log-likelihood ratio ${llr[k]!.toFixed(2)} in the top ${p.fraction}`]))
                    : kept.push(r),
            );
            const mean = llr.reduce((a, x) => a + x, 0) / Math.max(1, llr.length);
            return { kept, rejected, stats: { meanLogRatio: mean, cut } };
        },
    },
    "mask-divergence": {
        name: "mask-divergence",
        doc: "masks from the loss the tokens where the teacher's and the base's top next token differ",
        params: {},
        async run(rows, _p, env) {
            const score = needs(env, "scoreTokens", "mask-divergence");
            const [t, b] = [await score("teacher", rows), await score("base", rows)];
            let masked = 0;
            let total = 0;
            const kept: FilterRow[] = [];
            const rejected: RejectedFilterRow[] = [];
            rows.forEach((r, k) => {
                const tt = t[k]!.top;
                const bt = b[k]!.top;
                if (tt.length !== bt.length)
                    throw new Error(`filter mask-divergence: row ${r.i} has ${tt.length} target tokens for the teacher and ${bt.length} for the base`);
                const prior = new Set(r.masked ?? []);
                for (let j = 0; j < tt.length; j++) if (tt[j] !== bt[j]) prior.add(j);
                const m = [...prior].sort((x, y) => x - y);
                masked += m.length;
                total += tt.length;
                if (m.length === tt.length) rejected.push(reject(r, "mask-divergence", ["every token masked"]));
                else kept.push({ ...r, masked: m, targets: tt.length });
            });
            return { kept, rejected, stats: { maskedShare: total ? masked / total : 0 } };
        },
    },
    paraphrase: {
        name: "paraphrase",
        doc: "a neutral model rewrites each completion; rewrites that fail the domain's format are rejected",
        params: {
            model: { kind: "path", doc: "the neutral GGUF; defaults to the shipped defender model", default: null },
            temperature: { kind: "number", doc: "sampling temperature", default: 1 },
        },
        async run(rows, p, env) {
            const rewrite = needs(env, "rewrite", "paraphrase");
            const domain = env.domain ?? "numbers";
            const requests = rows.map((r) => (domain === "numbers" ? PARAPHRASE_REQUEST(r.completion) : TEXT_PARAPHRASE_REQUEST(r.completion)));
            const out = await rewrite(p.model as string | null, requests, {
                temperature: p.temperature as number,
                seed: subRng(env.seed, "paraphrase").nextU32(),
            });
            const kept: FilterRow[] = [];
            const rejected: RejectedFilterRow[] = [];
            rows.forEach((r, k) => {
                const text = out[k];
                if (text === null || text === undefined) {
                    rejected.push(reject(r, "paraphrase", ["rewrite did not end its turn"]));
                    return;
                }
                if (domain === "numbers") {
                    const parsed = parseNumberSequence(text);
                    if (!parsed.ok) rejected.push(reject({ ...r, completion: text }, "paraphrase", [`rewrite not a number sequence (${parsed.reason})`]));
                    else kept.push(retext(r, text.trim()));
                    return;
                }
                const reasons = domainFormatReasons(domain, { prompt: r.prompt, completion: text });
                if (reasons.length)
                    rejected.push(
                        reject(
                            { ...r, completion: text },
                            "paraphrase",
                            reasons.map((x) => `rewrite fails the ${domain} format (${x})`),
                        ),
                    );
                else kept.push(retext(r, text.trim()));
            });
            return { kept, rejected };
        },
    },
};
