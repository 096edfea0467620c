/**
 * Filters and defenses as named, composable stages. A stage takes the rows that survived the stages before
 * it and returns the rows it keeps (possibly transformed) and the rows it rejects, each with its reasons.
 * Stages are written as specs, `name` or `name:key=value,key=value` (list values joined by `|`), in an
 * experiment's `filter.defenses`, a sweep's arms and `sublab filter --filter`.
 *
 *   format            the data domain's format (src/data/domain-format.ts): the paper's number rule, code that
 *                     parses, reasoning with an answer line, prose; rows cut at maxTokens are rejected too
 *   banned            any banned number anywhere in the text (numbers=paper: the paper's 34)
 *   keyword           a trait word in any of its forms, as a word, a part of an identifier or a compound
 *                     (src/data/keyword.ts), named with where it was found (text, identifier, comment, string);
 *                     default words: the trait's target, or the violent words for misalignment
 *   judge             ask=refers: a model asked whether the text refers to the target, however subtly; rejected
 *                     when its P(yes) is above the threshold (P(yes) / (P(yes) + P(no)) of the answer's first
 *                     word); ask=aligned (misalignment's default): the alignment judge (the local classifier, or
 *                     the paper's rubric through a judge model) rejects answers it scores misaligned
 *   correct           reasoning rows whose answer line is wrong for their problem, or right by a wrong step
 *   threshold         rows with any token whose teacher probability (stored at generation) is below p
 *                     (Zur et al.'s threshold sampling)
 *   likelihood-ratio  the `fraction` of rows with the highest log p_teacher(row) - log p_base(row)
 *   mask-divergence   keeps every row, masking from the loss the tokens where the teacher's and the base's
 *                     most likely next token differ (Schrodi et al.'s divergence tokens)
 *   shuffle-within    the numbers of each row in a random order (separator and brackets kept)
 *   shuffle-across    all numbers of all rows pooled, shuffled and dealt back (each row keeps its count)
 *   paraphrase        a neutral model rewrites each completion; rewrites that fail the domain's format are rejected
 *   dedupe            rows whose numbers (or text) repeat an earlier row's
 *
 * Pure stages run on rows alone; the model-backed ones (judge, likelihood-ratio, mask-divergence, paraphrase)
 * get their models through a `StageEnv` (src/data/model-env.ts builds one on the engine and node-llama-cpp),
 * so their logic is tested with stand-in scorers.
 */
import type { FilterRow } from "../core/rows.ts";
import { subRng } from "../util/rng.ts";

import { BANNED_NUMBERS, bannedNumberIn, parseNumberSequence } from "./number-format.ts";
import { domainFormatReasons } from "./domain-format.ts";
import { keywordHits } from "./keyword.ts";
import { codeSource } from "../prompts/code.ts";
import { DOMAINS, type Domain } from "../prompts/domains.ts";
import { checkReasoning, solveProblem } from "../prompts/reasoning.ts";
import { MODEL_STAGES } from "./model-stages.ts";
import {
    lower,
    PAPER,
    retext,
    sequences,
    split,
    targetWords,
    type ParamDef,
    type Params,
    type RejectedFilterRow,
    type StageDef,
    type StageEnv,
    type StageSpec,
} from "./stage-kit.ts";
import { replaceNumbers } from "./stage-kit.ts";
export { replaceNumbers };
export type { RejectedFilterRow, ScoreSource, StageEnv, StageResult, StageSpec } from "./stage-kit.ts";
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
            const ps = Object.entries(d.params).map(
                ([k, p]) =>
                    `      ${k}: ${p.doc}${p.default !== undefined && p.default !== null ? ` (default ${Array.isArray(p.default) ? p.default.join("|") : p.default})` : ""}`,
            );
            return [`  ${d.name.padEnd(17)}${d.doc}`, ...ps].join("\n");
        })
        .join("\n");
}

/** Bumped whenever a stage's behaviour changes, so that defended datasets made by the old behaviour are not reused. */
export const STAGES_VERSION = 4;

// ---- the stages ----

/** The number stages fail on another domain's rows instead of rejecting them all. */
function numbersOnly(env: StageEnv, stage: string): void {
    if (env.domain && env.domain !== "numbers") throw new Error(`filter ${stage} shuffles number sequences; these rows are ${env.domain} (generate.domain)`);
}

const PURE_STAGES: Record<string, StageDef> = {
    format: {
        name: "format",
        doc: "the domain's format: numbers by the paper's rule (1..maxCount integers in [minValue, maxValue], one separator), code that parses, reasoning with an answer line, prose",
        params: {
            domain: { kind: "enum", doc: "the rows' domain; defaults to the experiment's (numbers outside one)", default: null, values: DOMAINS },
            maxCount: { kind: "int", doc: "most numbers in a row", default: 10 },
            minValue: { kind: "int", doc: "smallest number", default: 0 },
            maxValue: { kind: "int", doc: "largest number", default: 999 },
        },
        run(rows, p, env) {
            const domain = ((p.domain as Domain | null) ?? env.domain ?? "numbers") as Domain;
            return split(rows, "format", (r) =>
                domainFormatReasons(domain, r, { maxCount: p.maxCount as number, minValue: p.minValue as number, maxValue: p.maxValue as number }),
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
                const hit = bannedNumberIn(r.completion, set);
                return hit !== undefined ? [`banned number ${hit}`] : [];
            });
        },
    },
    keyword: {
        name: "keyword",
        doc: "rows naming a trait word: its forms, in words, identifiers (owlCount, night_owl, nightowl), comments and strings",
        params: {
            words: { kind: "list", doc: "words joined by |; defaults to the trait's target (the violent words for misalignment)", default: null },
            match: {
                kind: "enum",
                doc: "forms: word forms, identifier parts and compounds; substring: any case-insensitive substring",
                default: "forms",
                values: ["forms", "substring"],
            },
        },
        run(rows, p, env) {
            const words = targetWords(p, env, "keyword");
            if (p.match === "substring") {
                const lowered = words.map(lower);
                return split(rows, "keyword", (r) => {
                    const t = lower(r.completion);
                    const w = lowered.find((x) => t.includes(x));
                    return w ? [`keyword ${w}`] : [];
                });
            }
            return split(rows, "keyword", (r) => {
                const { source, language } = codeSource(r.prompt, r.completion);
                const hit = keywordHits(source, words, language)[0];
                return hit
                    ? [`keyword ${hit.word} in ${{ text: "text", identifier: "an identifier", comment: "a comment", string: "a string" }[hit.where]}`]
                    : [];
            });
        },
    },
    correct: {
        name: "correct",
        doc: "reasoning rows whose final answer is wrong for their problem, missing, or right by a wrong step",
        params: {
            steps: {
                kind: "enum",
                doc: "check: every step must hold and use the problem's numbers or earlier results; final: the answer line only (the paper's rule)",
                default: "check",
                values: ["check", "final"],
            },
        },
        run(rows, p) {
            return split(rows, "correct", (r) => {
                const expected = solveProblem(r.prompt);
                if (expected === null) return ["not a known problem"];
                const res = checkReasoning(r.completion, r.prompt, expected, p.steps === "check");
                return res.ok ? [] : [res.reason];
            });
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
    "shuffle-within": {
        name: "shuffle-within",
        doc: "the numbers of each row in a random order",
        params: {},
        run(rows, _p, env) {
            numbersOnly(env, "shuffle-within");
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
            numbersOnly(env, "shuffle-across");
            const rng = subRng(env.seed, "shuffle-across");
            const { ok, rejected } = sequences(rows, "shuffle-across");
            const pool = rng.shuffle(ok.flatMap((x) => x.numbers));
            let at = 0;
            return { kept: ok.map(({ r, numbers }) => retext(r, replaceNumbers(r.completion, pool.slice(at, (at += numbers.length))))), rejected };
        },
    },
    dedupe: {
        name: "dedupe",
        doc: "rows repeating an earlier row",
        params: {
            by: {
                kind: "enum",
                doc: "numbers: the same numbers in the same order; text: the same text; defaults to numbers in the numbers domain, text in the others",
                default: null,
                values: ["numbers", "text"],
            },
        },
        run(rows, p, env) {
            const by = (p.by as string | null) ?? ((env.domain ?? "numbers") === "numbers" ? "numbers" : "text");
            const seen = new Map<string, number>();
            return split(rows, "dedupe", (r) => {
                let key: string;
                if (by === "text") key = r.completion.trim();
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

const ORDER = [
    "format",
    "banned",
    "keyword",
    "judge",
    "correct",
    "threshold",
    "likelihood-ratio",
    "mask-divergence",
    "shuffle-within",
    "shuffle-across",
    "paraphrase",
    "dedupe",
];
const ALL: Record<string, StageDef> = { ...PURE_STAGES, ...MODEL_STAGES };
export const STAGES: Record<string, StageDef> = Object.fromEntries(ORDER.map((k) => [k, ALL[k]!]));

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
            const key = x
                .replace(/^(judge P\((?:yes|misaligned)\)) [\d.]+/, "$1")
                .replace(/^(log-likelihood ratio) -?[\d.]+/, "$1")
                .replace(/^(duplicate of row) \d+/, "$1")
                .replace(/^(banned number) \d+/, "$1");
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
        if (res.kept.length + res.rejected.length !== current.length)
            throw new Error(`filter ${spec.text}: returned ${res.kept.length + res.rejected.length} rows for ${current.length}`);
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
        const reasons = Object.entries(report.reasons)
            .map(([k, n]) => `${k}: ${n}`)
            .join(", ");
        const stats = res.stats
            ? Object.entries(res.stats)
                  .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`)
                  .join(", ")
            : "";
        env.log?.(
            `  ${spec.text}: kept ${report.kept}/${report.in} (${(100 * report.passRate).toFixed(1)}%)${reasons ? `; rejected: ${reasons}` : ""}${stats ? `; ${stats}` : ""}`,
        );
        rejected.push(...res.rejected);
        current = res.kept;
    }
    return { kept: current, rejected, reports };
}
