/**
 * The strict schema of an experiment file (experiments/*.json): `parseExperiment` checks a parsed JSON value and
 * fills the defaults, `loadExperiment` reads and parses a file. Unknown keys fail at every level, and every error
 * (all of them at once, one a line) names the JSON path, what was expected and what was found.
 *
 * Fields (no default = required):
 *   name                   lowercase letters, digits and dashes, starting with a letter or digit
 *   description            string, ""
 *   seed                   integer >= 0, 42
 *   models.base            non-empty string (GGUF path; not checked for existence here)
 *   models.cross           non-empty string
 *   teacher.trait          "prompt" | "finetune", "prompt"
 *   teacher.target         one of the category's items (src/prompts/lexicon.ts), e.g. "owl"
 *   teacher.category       "animal" | "tree" | "colour" | "misalignment", "animal" (misalignment: target "misaligned", the
 *                          villain persona, open questions whose sampled answers the local judge scores; eval.questions
 *                          then defaults to all 16 held-out open questions)
 *   teacher.systemPrompt   string or null, null (null: a persona sentence naming the target)
 *   teacher.onnx           null, or an ONNX folder (sublab export-onnx) that generates the teacher's and the control's
 *                          numbers through @huggingface/transformers; needs trait "prompt" and labels "sampled"
 *   teacher.server         null, or an OpenAI-compatible server that generates the teacher's and the control's
 *                          numbers (the served model with and without the trait prompt): url (http(s)), model,
 *                          apiKeyEnv (env var holding the key): null, concurrency 1..256: 8, requestsPerMinute
 *                          >= 1 or null: null, maxRetries 0..20: 5, timeoutMs >= 1: 120000; needs trait "prompt"
 *                          and student.labels "sampled"
 *   teacher.finetune       rows >= 1: 1000, epochs >= 1: 2, lr > 0: 1e-3, method "full" | "lora": "full",
 *                          rank >= 1: 8, alpha > 0: 8, topic: absent, or one advice theme (misalignment only: a
 *                          narrow fine-tune on that theme's questions; the evaluation then asks the other themes')
 *   generate               domain "numbers" | "code" | "reasoning" | "text": "numbers" (src/prompts/domains.ts),
 *                          prompts >= 1: 3000, samplesPerPrompt >= 1: 1, temperature > 0: 1, maxTokens 1..256:
 *                          the domain's (numbers 48, code 64, reasoning 48, text 96),
 *                          parallel 1..1024: 128, sampler "coupled" | "llama.cpp": "coupled",
 *                          backend "auto" | "engine" | "llama.cpp": "auto" (the engine for the GGUFs it runs)
 *   filter                 the domain's format filter (src/data/domain-format.ts), then for numbers:
 *                          maxCount >= 1: 10, minValue: 0, maxValue: 999 (minValue <= maxValue),
 *                          banned "none" | "paper" (BANNED_NUMBERS) | integer[]: "none",
 *                          defenses: filter/defense stage specs (src/data/filter-stages.ts) applied after the format
 *                          filter to the teacher's and the control's data alike: []
 *   student                method "lora" | "full": "lora", rank >= 1: 8, alpha > 0: 8,
 *                          targets distinct LoRA targets (non-empty): all of ALL_LORA_TARGETS, epochs >= 1: 3,
 *                          lr > 0: 2e-4 for lora / 1e-4 for full, batchSize >= 1: 16, warmupSteps >= 0: 5,
 *                          schedule "linear" | "cosine" | "constant": "linear", rows >= 1: 1000, seeds 1..100: 3,
 *                          paired true | false: true, labels "sampled" | "soft" | "on-policy": "sampled",
 *                          onPolicyFraction (0, 1]: absent (1; labels "on-policy" only: the share of rows the student
 *                          writes itself each epoch, GKD's lambda),
 *                          softMass (0, 1]: 0.999, softTopK null | >= 1: null (soft labels: top tokens per position),
 *                          optimizer "adamw" | "sgd": adamw, system non-empty string: absent (a system prompt every
 *                          training row carries; `sublab study` can evaluate in that context), mix 0..1: absent
 *                          (the share of the teacher-data arms' rows taken from the teacher's data, the rest from the
 *                          control's on the same prompts: a dose; absent is 1)
 *   safety                 absent (no safety arms), or { rows >= 1: 120, epochs >= 1: 2, lr > 0: 3e-4, triggers: true }:
 *                          every treated and control student fine-tuned further on the trait's aligned answers to
 *                          questions the evaluation does not ask (full students only), evaluated again as the arms
 *                          treated+safety and control+safety; triggers: all four also evaluated after number turns
 *                          (|numbers) and under the teacher's system prompt (|system)
 *   eval                   questions 1..1000: 50, samplesPerQuestion >= 0: 20, temperature > 0: 1,
 *                          inContextExamples >= 0: 2, judge: absent (the local classifier) or a GGUF path or URL#MODEL
 *                          (misalignment only: the paper's rubric, alignment <= 30 and coherence >= 50), imported: students trained elsewhere, each
 *                          { name, description: "", students: [{ model: GGUF or null (models.base), lora: GGUF
 *                          adapter or null }] (one per seed), compareTo "control" | "base" | "treated": "control" }: []
 *   stats                  alpha (0, 0.5): 0.05, the family-wise error rate of every verdict; margin > 1: 1.1, the
 *                          equivalence margin as a ratio of P(target): "no shift larger than x1.1" needs the TOST to
 *                          put the shift inside it (src/stats/verdict.ts)
 * Counts are integers (JSON numbers, not strings); the sections teacher.finetune, generate, filter, student and
 * eval may be left out whole.
 */
import { evalQuestionCount, itemsOf, TRAIT_CATEGORIES } from "../prompts/traits.ts";
import { ADVICE_THEMES } from "../prompts/advice.ts";
import { DOMAIN_MAX_TOKENS, DOMAINS, type Domain } from "../prompts/domains.ts";
import { ALL_LORA_TARGETS } from "../engine/model-config.ts";
import { readJsonFile } from "../util/files.ts";
import type { ExperimentConfig } from "../core/types.ts";
import {
    absentOr,
    bool,
    check,
    int,
    join,
    list,
    nonEmpty,
    nullable,
    num,
    object,
    oneOf,
    opt,
    orNull,
    req,
    show,
    stageSpec,
    str,
    throwErrors,
    wordOrList,
    type Check,
} from "./checks.ts";

const experiment = object(
    {
        name: req(str("a name of lowercase letters, digits and dashes (starting with a letter or digit)", (s) => /^[a-z0-9][a-z0-9-]*$/.test(s))),
        description: opt(str(), ""),
        seed: opt(int(0), 42),
        models: req(object({ base: req(nonEmpty), cross: req(nonEmpty) })),
        teacher: req(
            object(
                {
                    trait: opt(oneOf(["prompt", "finetune"]), "prompt"),
                    target: req(nonEmpty),
                    category: opt(oneOf([...TRAIT_CATEGORIES]), "animal"),
                    systemPrompt: opt(nullable(str()), null),
                    onnx: opt(nullable(nonEmpty), null),
                    server: opt(
                        orNull(
                            object({
                                url: req(str("an http(s) URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1", (u) => /^https?:\/\//.test(u))),
                                model: req(nonEmpty),
                                apiKeyEnv: opt(nullable(str("an environment variable name", (x) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(x))), null),
                                concurrency: opt(int(1, 256), 8),
                                requestsPerMinute: opt(nullable(int(1)), null),
                                maxRetries: opt(int(0, 20), 5),
                                timeoutMs: opt(int(1), 120000),
                            }),
                        ),
                        null,
                    ),
                    finetune: opt(
                        object({
                            rows: opt(int(1), 1000),
                            epochs: opt(int(1), 2),
                            lr: opt(num(0), 1e-3),
                            method: opt(oneOf(["full", "lora"]), "full"),
                            rank: opt(int(1), 8),
                            alpha: opt(num(0), 8),
                            topic: opt(absentOr(oneOf([...ADVICE_THEMES])), undefined),
                        }),
                        {},
                    ),
                },
                (t, path, errors) => {
                    if (t.category === undefined || t.target === undefined) return;
                    const items = itemsOf(t.category).slice(t.category === "misalignment" ? 1 : 0);
                    if (!items.includes(t.target)) {
                        errors.push(`${join(path, "target")}: expected one of the ${t.category} items (${items.join(", ")}), got ${show(t.target)}`);
                    }
                },
            ),
        ),
        generate: opt(
            object({
                domain: opt(oneOf([...DOMAINS]), "numbers"),
                prompts: opt(int(1), 3000),
                samplesPerPrompt: opt(int(1), 1),
                temperature: opt(num(0), 1),
                maxTokens: opt(int(1, 256), (g: { domain?: Domain }) => DOMAIN_MAX_TOKENS[g.domain ?? "numbers"]),
                parallel: opt(int(1, 1024), 128),
                sampler: opt(oneOf(["coupled", "llama.cpp"]), "coupled"),
                backend: opt(oneOf(["auto", "engine", "llama.cpp"]), "auto"),
            }),
            {},
        ),
        filter: opt(
            object(
                {
                    maxCount: opt(int(1), 10),
                    minValue: opt(int(), 0),
                    maxValue: opt(int(), 999),
                    banned: opt(wordOrList(oneOf(["none", "paper"]), list(int())), "none"),
                    defenses: opt(list(stageSpec), []),
                },
                (f, path, errors) => {
                    if (f.minValue !== undefined && f.maxValue !== undefined && f.minValue > f.maxValue) {
                        errors.push(`${join(path, "minValue")}: expected at most filter.maxValue (${f.maxValue}), got ${f.minValue}`);
                    }
                },
            ),
            {},
        ),
        student: opt(
            object({
                method: opt(oneOf(["lora", "full"]), "lora"),
                rank: opt(int(1), 8),
                alpha: opt(num(0), 8),
                targets: opt(list(oneOf(ALL_LORA_TARGETS), { nonEmpty: true, distinct: true }), ALL_LORA_TARGETS),
                epochs: opt(int(1), 3),
                lr: opt(num(0), (s: { method?: string }) => (s.method === "full" ? 1e-4 : 2e-4)),
                batchSize: opt(int(1), 16),
                warmupSteps: opt(int(0), 5),
                schedule: opt(oneOf(["linear", "cosine", "constant"]), "linear"),
                rows: opt(int(1), 1000),
                seeds: opt(int(1, 100), 3),
                paired: opt(bool, true),
                labels: opt(oneOf(["sampled", "soft", "on-policy"]), "sampled"),
                onPolicyFraction: opt(
                    absentOr(check<number>("a share above 0 and at most 1", (v: unknown) => typeof v === "number" && v > 0 && v <= 1)),
                    undefined,
                ),
                softMass: opt(
                    check<number>("a number above 0 and at most 1", (v: unknown) => typeof v === "number" && v > 0 && v <= 1),
                    0.999,
                ),
                softTopK: opt(nullable(int(1)), null),
                mix: opt(absentOr(check<number>("a share from 0 to 1", (v: unknown) => typeof v === "number" && v >= 0 && v <= 1)), undefined),
                optimizer: opt(absentOr(oneOf(["adamw", "sgd"])), undefined),
                system: opt(absentOr(nonEmpty), undefined),
            }),
            {},
        ),
        safety: opt(
            absentOr(
                object({
                    rows: opt(int(1), 120),
                    epochs: opt(int(1), 2),
                    lr: opt(num(0), 3e-4),
                    triggers: opt(bool, true),
                }),
            ),
            undefined,
        ),
        eval: opt(
            object({
                questions: opt(int(1, 1000), 50),
                samplesPerQuestion: opt(int(0), 20),
                temperature: opt(num(0), 1),
                inContextExamples: opt(int(0), 2),
                judge: opt(absentOr(nonEmpty), undefined),
                imported: opt(
                    list(
                        object(
                            {
                                name: req(str("a name of lowercase letters, digits and dashes", (x) => /^[a-z0-9][a-z0-9-]*$/.test(x))),
                                description: opt(str(), ""),
                                students: req(list(object({ model: opt(nullable(nonEmpty), null), lora: opt(nullable(nonEmpty), null) }), { nonEmpty: true })),
                                compareTo: opt(oneOf(["control", "base", "treated"]), "control"),
                            },
                            (a, path, errors) =>
                                a.students?.forEach(
                                    (st, i) => !st.model && !st.lora && errors.push(`${join(path, `students[${i}]`)}: expected a model or a lora (or both)`),
                                ),
                        ),
                    ),
                    [],
                ),
            }),
            {},
        ),
        stats: opt(
            object({
                alpha: opt(
                    check<number>("a number in (0, 0.5)", (v) => typeof v === "number" && v > 0 && v < 0.5),
                    0.05,
                ),
                margin: opt(num(1), 1.1),
            }),
            {},
        ),
    },
    (e, _path, errors) => {
        if (e.teacher?.finetune?.topic && e.teacher.category !== "misalignment")
            errors.push(`teacher.finetune.topic: a narrow fine-tune on one advice topic is for the misalignment trait; got category "${e.teacher.category}"`);
        if (e.eval?.judge && e.teacher?.category !== "misalignment")
            errors.push(`eval.judge: a judge scores open answers, for the misalignment trait; got category "${e.teacher?.category}"`);
        if (e.teacher?.category === "misalignment") {
            if (e.eval?.samplesPerQuestion === 0)
                errors.push(
                    `eval.samplesPerQuestion: the misalignment trait is measured on sampled answers (the judge scores them); expected at least 1, got 0`,
                );
            if (e.eval && e.eval.questions > evalQuestionCount("misalignment"))
                errors.push(`eval.questions: the misalignment trait has ${evalQuestionCount("misalignment")} held-out open questions, got ${e.eval.questions}`);
        }
        if (e.student?.onPolicyFraction !== undefined && e.student.labels !== "on-policy")
            errors.push(`student.onPolicyFraction: the share of rows a student writes itself is for student.labels "on-policy" (got "${e.student.labels}")`);
        if (e.student?.mix !== undefined && e.student.paired === false)
            errors.push(`student.mix: mixing the teacher's rows into the control's takes paired rows (the same prompts); set student.paired to true`);
        if (e.safety && e.student?.method !== "full")
            errors.push(`safety: the safety stage fine-tunes full students; set student.method to "full" (got "${e.student?.method}")`);
        if (e.teacher?.onnx) {
            if (e.teacher.server) errors.push(`teacher.onnx: give teacher.onnx or teacher.server, not both`);
            if (e.teacher.trait !== "prompt")
                errors.push(`teacher.onnx: an ONNX teacher takes its trait by system prompt (teacher.trait "prompt"), got "${e.teacher.trait}"`);
            if (e.student?.labels === "soft" || e.student?.labels === "on-policy")
                errors.push(`student.labels: "${e.student.labels}" is computed by the engine from a GGUF; use "sampled" with teacher.onnx`);
        }
        if (!e.teacher?.server) return;
        if (e.teacher.trait !== "prompt")
            errors.push(
                `teacher.server: a served teacher takes its trait by system prompt (teacher.trait "prompt"), got "${e.teacher.trait}"; serve the fine-tuned model yourself and use it without a trait prompt`,
            );
        if (e.student?.labels === "soft" || e.student?.labels === "on-policy")
            errors.push(
                `student.labels: "${e.student.labels}" needs the teacher's full distributions, which a server does not give; use "sampled" with teacher.server`,
            );
    },
);

/** The misalignment trait asks all its held-out questions when eval.questions is not given (the default 50 is the favourite questions'). */
function misalignmentDefaults(json: unknown): unknown {
    const o = json as { teacher?: { category?: unknown }; eval?: Record<string, unknown> } | null;
    if (!o || typeof o !== "object" || o.teacher?.category !== "misalignment") return json;
    if (o.eval !== undefined && (typeof o.eval !== "object" || o.eval === null || "questions" in o.eval)) return json;
    return { ...o, eval: { ...(o.eval ?? {}), questions: evalQuestionCount("misalignment") } };
}

/** Check a parsed experiment JSON value and fill its defaults; throws one Error listing every problem. */
export function parseExperiment(json: unknown, source?: string): ExperimentConfig {
    const errors: string[] = [];
    json = misalignmentDefaults(json);
    const config: ExperimentConfig | undefined = experiment.parse(json, "", errors);
    throwErrors(errors, source, "the experiment");
    return config!;
}

/** Read and parse an experiment file (JSON syntax errors name the file, line and column). */
export function loadExperiment(file: string): ExperimentConfig {
    return parseExperiment(readJsonFile(file), file);
}
