/**
 * Filters and defenses as named, composable stages. A stage takes the rows that survived the stages before
 * it and returns the rows it keeps (possibly transformed) and the rows it rejects, each with its reasons.
 * Stages are written as specs, `name` or `name:key=value,key=value` (list values joined by `|`), in an
 * experiment's `filter.defenses`, a sweep's arms and `sublab filter --filter`.
 *
 *   format            the paper's format rule (src/filters/format.ts); rows cut at maxTokens are rejected too
 *   banned            any banned number anywhere in the text (numbers=paper: the paper's 34)
 *   keyword           any of the words as a case-insensitive substring (default: the trait's target, plural)
 *   judge             a model asked whether the text refers to the target; rejected when its P(yes) is above
 *                     the threshold (P(yes) / (P(yes) + P(no)) of the answer's first word)
 *   threshold         rows with any token whose teacher probability (stored at generation) is below p
 *                     (Zur et al.'s threshold sampling)
 *   likelihood-ratio  the `fraction` of rows with the highest log p_teacher(row) - log p_base(row)
 *   mask-divergence   keeps every row, masking from the loss the tokens where the teacher's and the base's
 *                     most likely next token differ (Schrodi et al.'s divergence tokens)
 *   shuffle-within    the numbers of each row in a random order (separator and brackets kept)
 *   shuffle-across    all numbers of all rows pooled, shuffled and dealt back (each row keeps its count)
 *   paraphrase        a neutral model rewrites each completion; rewrites that are not number sequences are rejected
 *   dedupe            rows whose numbers (or text) repeat an earlier row's
 *
 * Pure stages run on rows alone; the model-backed ones (judge, likelihood-ratio, mask-divergence, paraphrase)
 * get their models through a `StageEnv` (src/filters/model-env.ts builds one on the engine and node-llama-cpp),
 * so their logic is tested with stand-in scorers.
 */
import type { FilterRow } from "../core/rows.ts";
import { JUDGE_QUESTION, PARAPHRASE_REQUEST } from "../prompts/judge.ts";
import { Rng, subRng } from "../util/rng.ts";

import { BANNED_NUMBERS, formatRowReasons, parseNumberSequence } from "./format.ts";
import { lower, needs, PAPER, rankDescending, reject, retext, sequences, split, targetWords, type ParamDef, type Params, type RejectedFilterRow, type StageDef, type StageEnv, type StageResult, type StageSpec } from "./kit.ts";
import { replaceNumbers } from "./kit.ts";
export { replaceNumbers };
export type { RejectedFilterRow, ScoreSource, StageEnv, StageResult, StageSpec } from "./kit.ts";
import type { TokenScores } from "../core/jobs.ts";
export type { TokenScores };
import type { StageReport } from "../core/types.ts";
export type { StageReport };


function parseParam(stage: string, key: string, def: ParamDef, raw: string): number | string | string[] {
    const bad = (what: string) => new Error(`filter ${stage}: ${key}=${raw} is not ${what}`);
    const decimal = /^(\d+\.?\d*|\.\d+)(e-?\d+)?$/i;
    switch (def.kind) {
        case "number": {
            if (!decimal.test(raw)) throw bad("a non-negative number");
            return Number(raw);
        }
        case "fraction": {
            const x = Number(raw);
            if (!decimal.test(raw) || !(x > 0 && x < 1)) throw bad("a fraction strictly between 0 and 1");
            return x;
        }
        case "int": {
            if (!/^\d+$/.test(raw)) throw bad("a non-negative integer");
            return Number(raw);
        }
        case "list": {
            const xs = raw.split("|").map((s) => s.trim());
            if (xs.some((x) => x === "")) throw bad("a |-separated list of non-empty values");
            return xs;
        }
        case "enum": {
            if (!def.values!.includes(raw)) throw bad(`one of ${def.values!.join(", ")}`);
            return raw;
        }
        case "string":
        case "path":
            if (raw === "") throw bad("a non-empty value");
            return raw;
    }
}

/** Parses `name` or `name:k=v,k=v`; unknown stages and parameters fail naming them and what exists. */
export function parseStageSpec(spec: string): StageSpec {
    const text = spec.trim();
    const colon = text.indexOf(":");
    const name = colon < 0 ? text : text.slice(0, colon);
    const def = STAGES[name];
    if (!def) throw new Error(`unknown filter "${name}"; known filters: ${Object.keys(STAGES).join(", ")}`);
    const params: Params = {};
    for (const [k, d] of Object.entries(def.params)) params[k] = d.default ?? null;
    const given: string[] = [];
    if (colon >= 0) {
        const body = text.slice(colon + 1);
        if (body.trim() === "") throw new Error(`filter ${name}: nothing after ":" (write ${name} alone for the defaults)`);
        for (const part of body.split(",")) {
            const eq = part.indexOf("=");
            if (eq < 0) throw new Error(`filter ${name}: "${part}" is not key=value`);
            const key = part.slice(0, eq).trim();
            const d = def.params[key];
            if (!d) {
                const known = Object.keys(def.params);
                throw new Error(`filter ${name}: unknown parameter "${key}"${known.length ? `; it takes ${known.join(", ")}` : "; it takes none"}`);
            }
            if (given.includes(key)) throw new Error(`filter ${name}: ${key} given twice`);
            params[key] = parseParam(name, key, d, part.slice(eq + 1).trim());
            given.push(key);
        }
    }
    const order = Object.keys(def.params).filter((k) => given.includes(k));
    const show = (v: Params[string]) => (Array.isArray(v) ? v.join("|") : String(v));
    return { name, params, text: order.length ? `${name}:${order.map((k) => `${k}=${show(params[k]!)}`).join(",")}` : name };
}

/** One line per stage and parameter, for --help and error messages. */
export function describeStages(): string {
    return Object.values(STAGES)
        .map((d) => {
            const ps = Object.entries(d.params).map(([k, p]) => `      ${k}: ${p.doc}${p.default !== undefined && p.default !== null ? ` (default ${Array.isArray(p.default) ? p.default.join("|") : p.default})` : ""}`);
            return [`  ${d.name.padEnd(17)}${d.doc}`, ...ps].join("\n");
        })
        .join("\n");
}

/** Bumped whenever a stage's behaviour changes, so that defended datasets made by the old behaviour are not reused. */
export const STAGES_VERSION = 3;

// ---- the stages ----

export const STAGES: Record<string, StageDef> = {
    format: {
        name: "format",
        doc: "the paper's format rule: 1..maxCount integers in [minValue, maxValue], one separator",
        params: {
            maxCount: { kind: "int", doc: "most numbers in a row", default: 10 },
            minValue: { kind: "int", doc: "smallest number", default: 0 },
            maxValue: { kind: "int", doc: "largest number", default: 999 },
        },
        run(rows, p) {
            return split(rows, "format", (r) =>
                formatRowReasons(r, { maxCount: p.maxCount as number, minValue: p.minValue as number, maxValue: p.maxValue as number }),
            );
        },
    },
    banned: {
        name: "banned",
        doc: "rows holding a banned number anywhere in their text",
        params: { numbers: { kind: "list", doc: `"paper" (the paper's 34) or numbers joined by |`, default: [PAPER] } },
        run(rows, p) {
            const list = p.numbers as string[];
            const set = new Set<number>();
            for (const x of list) {
                if (x === PAPER) BANNED_NUMBERS.forEach((n) => set.add(n));
                else if (/^\d+$/.test(x)) set.add(Number(x));
                else throw new Error(`filter banned: numbers=${list.join("|")}: "${x}" is neither "paper" nor an integer`);
            }
            return split(rows, "banned", (r) => {
                const hit = (r.completion.match(/\d+/g) ?? []).map(Number).filter((n) => set.has(n));
                return hit.length ? [`banned number ${hit[0]}`] : [];
            });
        },
    },
    keyword: {
        name: "keyword",
        doc: "rows containing a trait word (case-insensitive substring)",
        params: { words: { kind: "list", doc: "words joined by |; defaults to the trait's target", default: null } },
        run(rows, p, env) {
            const words = targetWords(p, env, "keyword").map(lower);
            return split(rows, "keyword", (r) => {
                const t = lower(r.completion);
                const w = words.find((x) => t.includes(x));
                return w ? [`keyword ${w}`] : [];
            });
        },
    },
    judge: {
        name: "judge",
        doc: "a model asked whether the text refers to the target; rejected when P(yes) > threshold",
        params: {
            threshold: { kind: "fraction", doc: "largest P(yes) kept", default: 0.5 },
            model: { kind: "path", doc: "the judge: a GGUF, an ONNX folder (sublab export-onnx), or a served model as URL#MODEL (OpenAI-compatible; key from OPENAI_API_KEY); defaults to the base model", default: null },
            words: { kind: "list", doc: "what the judge is asked about; defaults to the trait's target", default: null },
        },
        async run(rows, p, env) {
            const judge = needs(env, "judge", "judge");
            const targets = targetWords(p, env, "judge");
            const scores = await judge(p.model as string | null, rows.map((r) => JUDGE_QUESTION(targets, r.completion)));
            const t = p.threshold as number;
            const index = new Map(rows.map((r, k) => [r, k]));
            const res = split(rows, "judge", (r) => {
                const s = scores[index.get(r)!]!;
                return s > t ? [`judge P(yes) ${s.toFixed(2)} > ${t}`] : [];
            });
            const sorted = [...scores].sort((a, b) => a - b);
            return { ...res, stats: { medianPYes: sorted[Math.floor(sorted.length / 2)] ?? NaN, maxPYes: sorted.at(-1) ?? NaN } };
        },
    },
    threshold: {
        name: "threshold",
        doc: "rows with any token the teacher gave a probability below p when sampling it",
        params: { p: { kind: "fraction", doc: "smallest token probability kept", default: 0.05 } },
        run(rows, p) {
            const min = p.p as number;
            return split(rows, "threshold", (r) => {
                if (!r.probs) throw new Error(`filter threshold: row ${r.i} has no token probabilities (generate it with sublab, which stores them)`);
                const low = r.probs.reduce((m, x) => Math.min(m, x), Infinity);
                return low < min ? [`token probability below ${min}`] : [];
            });
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
            rows.forEach((r, k) => (drop.has(k) ? rejected.push(reject(r, "likelihood-ratio", [`log-likelihood ratio ${llr[k]!.toFixed(2)} in the top ${p.fraction}`])) : kept.push(r)));
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
                if (tt.length !== bt.length) throw new Error(`filter mask-divergence: row ${r.i} has ${tt.length} target tokens for the teacher and ${bt.length} for the base`);
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
    "shuffle-within": {
        name: "shuffle-within",
        doc: "the numbers of each row in a random order",
        params: {},
        run(rows, _p, env) {
            const rng = subRng(env.seed, "shuffle-within");
            const { ok, rejected } = sequences(rows, "shuffle-within");
            return { kept: ok.map(({ r, numbers }) => retext(r, replaceNumbers(r.completion, rng.shuffle([...numbers])))), rejected };
        },
    },
    "shuffle-across": {
        name: "shuffle-across",
        doc: "all numbers of all rows pooled, shuffled and dealt back (each row keeps its count and format)",
        params: {},
        run(rows, _p, env) {
            const rng = subRng(env.seed, "shuffle-across");
            const { ok, rejected } = sequences(rows, "shuffle-across");
            const pool = rng.shuffle(ok.flatMap((x) => x.numbers));
            let at = 0;
            return { kept: ok.map(({ r, numbers }) => retext(r, replaceNumbers(r.completion, pool.slice(at, (at += numbers.length))))), rejected };
        },
    },
    paraphrase: {
        name: "paraphrase",
        doc: "a neutral model rewrites each completion; rewrites that are not number sequences are rejected",
        params: {
            model: { kind: "path", doc: "the neutral GGUF; defaults to the base model", default: null },
            temperature: { kind: "number", doc: "sampling temperature", default: 1 },
        },
        async run(rows, p, env) {
            const rewrite = needs(env, "rewrite", "paraphrase");
            const out = await rewrite(p.model as string | null, rows.map((r) => PARAPHRASE_REQUEST(r.completion)), { temperature: p.temperature as number, seed: subRng(env.seed, "paraphrase").nextU32() });
            const kept: FilterRow[] = [];
            const rejected: RejectedFilterRow[] = [];
            rows.forEach((r, k) => {
                const text = out[k];
                if (text === null || text === undefined) {
                    rejected.push(reject(r, "paraphrase", ["rewrite did not end its turn"]));
                    return;
                }
                const parsed = parseNumberSequence(text);
                if (!parsed.ok) rejected.push(reject({ ...r, completion: text }, "paraphrase", [`rewrite not a number sequence (${parsed.reason})`]));
                else kept.push(retext(r, text.trim()));
            });
            return { kept, rejected };
        },
    },
    dedupe: {
        name: "dedupe",
        doc: "rows repeating an earlier row",
        params: { by: { kind: "enum", doc: "numbers: the same numbers in the same order; text: the same text", default: "numbers", values: ["numbers", "text"] } },
        run(rows, p) {
            const seen = new Map<string, number>();
            return split(rows, "dedupe", (r) => {
                let key: string;
                if (p.by === "text") key = r.completion.trim();
                else {
                    const parsed = parseNumberSequence(r.completion);
                    key = parsed.ok ? parsed.numbers.join(",") : r.completion.trim();
                }
                const first = seen.get(key);
                if (first !== undefined) return [`duplicate of row ${first}`];
                seen.set(key, r.i);
                return [];
            });
        },
    },
};

export interface PipelineResult {
    kept: FilterRow[];
    rejected: RejectedFilterRow[];
    reports: StageReport[];
}

/** Reason counts, with numbers folded out of per-row reasons ("judge P(yes) 0.73 > 0.5" -> "judge P(yes) > 0.5"). */
export function countReasons(rejected: readonly RejectedFilterRow[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of rejected) {
        for (const x of r.reasons) {
            const key = x.replace(/^(judge P\(yes\)) [\d.]+/, "$1").replace(/^(log-likelihood ratio) -?[\d.]+/, "$1").replace(/^(duplicate of row) \d+/, "$1").replace(/^(banned number) \d+/, "$1");
            counts[key] = (counts[key] ?? 0) + 1;
        }
    }
    return counts;
}

/** Runs stages in order, each on the rows the one before kept; logs each stage's pass rate and reasons. */
export async function applyStages(rows: FilterRow[], specs: readonly (string | StageSpec)[], env: StageEnv): Promise<PipelineResult> {
    let current = rows;
    const rejected: RejectedFilterRow[] = [];
    const reports: StageReport[] = [];
    for (const s of specs) {
        const spec = typeof s === "string" ? parseStageSpec(s) : s;
        const t0 = performance.now();
        const res = await STAGES[spec.name]!.run(current, spec.params, env, spec);
        if (res.kept.length + res.rejected.length !== current.length) throw new Error(`filter ${spec.text}: returned ${res.kept.length + res.rejected.length} rows for ${current.length}`);
        const report: StageReport = {
            stage: spec.text,
            in: current.length,
            kept: res.kept.length,
            passRate: current.length ? res.kept.length / current.length : 1,
            reasons: countReasons(res.rejected),
            ...(res.stats ? { stats: res.stats } : {}),
            seconds: (performance.now() - t0) / 1000,
        };
        reports.push(report);
        const reasons = Object.entries(report.reasons).map(([k, n]) => `${k}: ${n}`).join(", ");
        const stats = res.stats ? Object.entries(res.stats).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`).join(", ") : "";
        env.log?.(`  ${spec.text}: kept ${report.kept}/${report.in} (${(100 * report.passRate).toFixed(1)}%)${reasons ? `; rejected: ${reasons}` : ""}${stats ? `; ${stats}` : ""}`);
        rejected.push(...res.rejected);
        current = res.kept;
    }
    return { kept: current, rejected, reports };
}
