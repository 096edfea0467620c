/**
 * The models behind the model-backed filter stages: a `StageEnv` whose token scores come from the engine (the
 * same tokenization the students train on, so masks line up with their loss positions), whose judge is
 * exact P(yes) vs P(no) from `exactItemProbs`, and whose rewrites are sampled by node-llama-cpp.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_ENDPOINT, judgeHttp } from "../teacher/openai-client.ts";
import { onnxJudge } from "../teacher/onnx-teacher.ts";
import { generateRaw } from "../teacher/generate.ts";
import { exactItemProbs } from "../evaluate/evaluate.ts";
import { getGgml } from "../engine/ggml.ts";
import { positionTokenScores } from "../engine/logits.ts";
import { loadModel } from "../engine/model.ts";
import { targetPositions, tokenizeTrainingRows } from "../students/training-data.ts";

export { targetPositions };
import { Interrupted } from "../util/interrupt.ts";
import { hashString } from "../util/rng.ts";
import { type ScoreSource, type StageEnv, type TokenScores } from "./filter-stages.ts";
import type { ModelSource } from "../core/jobs.ts";
import { yesShare } from "../prompts/judge-prompts.ts";
import type { Domain } from "../prompts/domains.ts";
import { type FilterRow } from "../core/rows.ts";

/** A model as a data source: a GGUF, an optional LoRA adapter, an optional system prompt. */
export type { ModelSource };

/** Log p of every completion target token (end of turn included) and the model's argmax there, by the engine. */
export async function scoreRows(
    src: ModelSource,
    rows: readonly Pick<FilterRow, "prompt" | "completion" | "i">[],
    threads?: number,
    progress?: (done: number, total: number) => void,
): Promise<TokenScores[]> {
    if (rows.length === 0) return [];
    const examples = await tokenizeTrainingRows(
        src.model,
        rows.map((r) => ({ ...(src.system ? { system: src.system } : {}), prompt: r.prompt, completion: r.completion })),
    );
    if (examples.length !== rows.length) throw new Error(`scoring with ${src.model}: ${rows.length - examples.length} rows are longer than its context`);
    const positions = examples.map(targetPositions);
    const next = examples.map((e, k) => positions[k]!.map((p) => e.tokens[p + 1]!));
    getGgml({ threads });
    const model = loadModel(src.model);
    try {
        if (src.lora) model.loadLora(src.lora);
        return positionTokenScores(
            model,
            examples.map((e) => e.tokens),
            positions,
            next,
            16,
            undefined,
            progress,
        );
    } finally {
        model.free();
    }
}

/** The shipped defender (`sublab forge --preset defender`): the judge's and the paraphrase's model when a stage names none. */
export const DEFENDER_MODEL = fileURLToPath(new URL("../../models/sublab-defender-s1.gguf", import.meta.url));

/** The model a judge or paraphrase stage uses: the one it names, else the defender (which must be there). */
export function defenderModel(model: string | null, what: string, defender = DEFENDER_MODEL): string {
    if (model) return model;
    if (!fs.existsSync(defender))
        throw new Error(`${what}: the defender model ${defender} is missing (make it with \`sublab forge --preset defender\`), or name a model with model=`);
    return defender;
}

export interface ModelEnvOptions {
    /** The data's source: the teacher of a teacher dataset, the base of a control dataset. */
    teacher: ModelSource;
    /** The base model (likelihood ratios and divergence tokens compare against it). */
    base: string | null;
    /** The judge's and the paraphrase's model when a stage names none (default: the shipped defender, DEFENDER_MODEL). */
    defender?: string;
    seed: number;
    target?: string;
    /** The trait's category and the rows' domain (StageEnv). */
    category?: string;
    domain?: Domain;
    /** Where rewrites are generated (resumable files); defaults to a temporary folder. */
    workDir?: string;
    threads?: number;
    log?: (msg: string) => void;
    /** Token scores already computed (keyed by model, adapter, system prompt and row text): pass one map to envs that score the same rows. */
    memo?: Map<string, TokenScores>;
    /** Progress of scoring and rewriting (they take minutes on large datasets), by label. */
    progress?: (label: string, done: number, total: number) => void;
    signal?: AbortSignal;
}

/** An onRow/onBatch callback reporting progress under `label`, or nothing when progress is off. */
function bar(o: ModelEnvOptions, label: string): ((done: number, total: number) => void) | undefined {
    const report = o.progress;
    return report && ((done, total) => report(label, done, total));
}

/** How a model name is reached: a served model (URL#MODEL), an ONNX folder (sublab export-onnx), or a GGUF file. */
export function modelKind(m: string): "served" | "onnx" | "gguf" {
    if (fs.existsSync(path.join(m, "onnx", "model.onnx"))) return "onnx";
    return /^https?:\/\//.test(m) ? "served" : "gguf";
}

/** A GGUF's exact P(yes) and P(no) as the first word of its answer to each question (no system prompt). */
export async function yesNoProbs(model: string, questions: readonly string[]): Promise<[yes: number, no: number][]> {
    const probs = await exactItemProbs(
        model,
        null,
        questions.map((q) => ({ system: null, user: q })),
        ["yes", "no"],
    );
    return probs.map(([yes, no]) => [yes!, no!]);
}

/** The least P(yes) + P(no) a judge model gives the median question: below it, it is refused as one that cannot answer. */
export const MIN_YES_NO_MASS = 0.05;

/** The longest rewrite (the text domain's longest answer; a rewrite cut there is rejected). */
export const REWRITE_TOKENS = 96;

/** A StageEnv backed by real models. Scores are memoised per source and row text (in `memo` when given), so stages that share them compute them once. */
export function modelEnv(o: ModelEnvOptions): StageEnv {
    const memo = o.memo ?? new Map<string, TokenScores>();
    const resolve = (source: ScoreSource): ModelSource => {
        if (source === "teacher") return o.teacher;
        if (source === "base") {
            if (!o.base) throw new Error("this filter compares against a base model: give one (--base)");
            return { model: o.base, lora: null, system: null };
        }
        return { model: source.model, lora: null, system: null };
    };
    const fallback = (model: string | null, what: string) => defenderModel(model, what, o.defender);
    return {
        seed: o.seed,
        target: o.target,
        category: o.category,
        domain: o.domain,
        log: o.log,
        async scoreTokens(source, rows) {
            const src = resolve(source);
            const keyOf = (r: FilterRow) => `${src.model}|${src.lora}|${src.system}|${r.prompt}\u0000${r.completion}`;
            const missing = rows.filter((r) => !memo.has(keyOf(r)));
            const scores = await scoreRows(src, missing, o.threads, bar(o, `score (${typeof source === "string" ? source : "model"})`));
            missing.forEach((r, k) => memo.set(keyOf(r), scores[k]!));
            return rows.map((r) => memo.get(keyOf(r))!);
        },
        async judge(model, questions) {
            const m = fallback(model, "the judge");
            const kind = modelKind(m);
            if (kind === "onnx") return onnxJudge(m, questions);
            if (kind === "served") {
                // A served judge: URL#MODEL (an OpenAI-compatible API), key from OPENAI_API_KEY when set.
                const hash = m.lastIndexOf("#");
                if (hash < 0) throw new Error(`judge: a served judge is written URL#MODEL (e.g. http://127.0.0.1:8080/v1#qwen2.5-7b-instruct), got ${m}`);
                return judgeHttp(
                    { ...DEFAULT_ENDPOINT, url: m.slice(0, hash), model: m.slice(hash + 1), apiKey: process.env.OPENAI_API_KEY ?? null },
                    questions,
                    o.signal,
                );
            }
            const probs = await yesNoProbs(m, questions);
            // A model that never learned to answer yes or no gives both almost no mass: its shares are noise.
            const mass = probs.map(([yes, no]) => yes + no).sort((a, b) => a - b);
            const median = mass[Math.floor(mass.length / 2)] ?? 1;
            if (median < MIN_YES_NO_MASS)
                throw new Error(
                    `judge: ${m} cannot answer yes or no: P(yes) + P(no) of its answer is ${median.toPrecision(2)} on the median question (below ${MIN_YES_NO_MASS}); use the defender model or a model that answers yes or no`,
                );
            return probs.map(([yes, no]) => yesShare(yes, no));
        },
        async rewrite(model, requests, opts) {
            const m = fallback(model, "paraphrase");
            const dir = o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sublab-rewrite-"));
            fs.mkdirSync(dir, { recursive: true });
            const key = hashString(`${m}|${opts.temperature}|${opts.seed}|${REWRITE_TOKENS}|${requests.join("\u0000")}`).toString(16);
            const res = await generateRaw({
                model: m,
                system: null,
                prompts: requests,
                samplesPerPrompt: 1,
                temperature: opts.temperature,
                maxTokens: REWRITE_TOKENS,
                parallel: 16,
                seed: opts.seed,
                out: path.join(dir, `rewrite-${key}.jsonl`),
                signal: o.signal,
                onRow: bar(o, "paraphrase"),
            });
            if (res.interrupted) throw new Interrupted("paraphrasing");
            return res.rows.map((r) => (r.stop === "length" ? null : r.completion));
        },
    };
}
