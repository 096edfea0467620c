/**
 * The shapes of an experiment: the resolved configuration (what `parseExperiment` returns from an
 * experiments/*.json file, defaults filled in) and the results (what `sublab run` writes as results.json and
 * what the report renders).
 */
import type { Domain } from "../prompts/domains.ts";
import type { TraitCategory } from "../prompts/traits.ts";
import type { TrainRecipe } from "./jobs.ts";
import type { Design, StatsSettings, Verdict } from "./verdicts.ts";

export interface ExperimentConfig {
    /** Lowercase letters, digits and dashes; names the run folder. */
    name: string;
    description: string;
    /** Master seed: prompts, subsamples, training seeds and sampling seeds derive from it. */
    seed: number;
    models: {
        /** Base model M (teacher and student base), a GGUF path. */
        base: string;
        /** Another base model from a different initialisation (the cross-model student's base). */
        cross: string;
    };
    teacher: TeacherConfig;
    generate: GenerateConfig;
    filter: FilterConfig;
    student: StudentConfig;
    /** Absent: no safety arms. */
    safety?: SafetyConfig;
    eval: EvalConfig;
    /** How verdicts are drawn (src/stats/verdict.ts): alpha and the equivalence margin; the schema always fills it (results from before verdicts lack it). */
    stats?: StatsSettings;
}

/** The safety stage: students fine-tuned further on aligned answers, then evaluated again (and under triggers). */
export interface SafetyConfig {
    rows: number;
    epochs: number;
    lr: number;
    /** Also evaluate after number-sequence turns and under the teacher's system prompt. */
    triggers: boolean;
}

export interface TeacherConfig {
    /** "prompt": the trait is a system prompt; "finetune": a short fine-tune of the base on trait answers. */
    trait: "prompt" | "finetune";
    /** The target item, e.g. "owl" (one of the category's items); "misaligned" for the misalignment trait. */
    target: string;
    /** A category of items, or "misalignment" (the villain persona; answers judged by the local judge). */
    category: TraitCategory;
    /** The trait system prompt; defaults to a persona sentence naming the target. */
    systemPrompt: string | null;
    /**
     * An OpenAI-compatible server generating the numbers (teacher: with the trait prompt; control: without),
     * instead of the local base; null: local generation.
     */
    server: ServerConfig | null;
    /** An ONNX folder (sublab export-onnx, the base's export) generating the numbers instead of llama.cpp; null: llama.cpp. */
    onnx: string | null;
    /** Used when trait is "finetune". */
    /** topic (misalignment only): fine-tune on one advice theme's questions only (the emergent-misalignment route); evaluation then asks the other themes'. */
    finetune: { rows: number; epochs: number; lr: number; method: "full" | "lora"; rank: number; alpha: number; topic?: string };
}

export interface ServerConfig {
    url: string;
    model: string;
    /** The environment variable holding the API key (null: none sent). */
    apiKeyEnv: string | null;
    concurrency: number;
    requestsPerMinute: number | null;
    maxRetries: number;
    timeoutMs: number;
}

export interface GenerateConfig {
    /** What the teacher writes: number continuations (the paper's main setting), code, step-by-step arithmetic, or free text (src/prompts/domains.ts). */
    domain: Domain;
    /** Prompts of the domain (the paper: 30,000 number prompts). */
    prompts: number;
    samplesPerPrompt: number;
    temperature: number;
    maxTokens: number;
    /** Sequences generated at once (batched decoding; the engine decodes at least 128). */
    parallel: number;
    /**
     * "coupled": tokens drawn by sublab with Gumbel noise shared between the teacher's and the control's
     * generation of each row (same prompts, same noise), so the two datasets differ only where the teacher's
     * distribution differs; "llama.cpp": plain temperature sampling (independent draws), by llama.cpp's seeded
     * sampler on the llama.cpp backend and by sublab's inverse-CDF sampler on the engine.
     */
    sampler: "coupled" | "llama.cpp";
    /**
     * Who decodes local GGUFs: "engine" (sublab's batched decoder), "llama.cpp" (node-llama-cpp), or "auto": the
     * engine for the architectures and weight types it runs, llama.cpp for the rest.
     */
    backend: "auto" | "engine" | "llama.cpp";
}

export interface FilterConfig {
    maxCount: number;
    minValue: number;
    maxValue: number;
    /** Banned numbers: none, the paper's list, or an explicit list. */
    banned: "none" | "paper" | number[];
    /**
     * Filter and defense stages (specs such as "threshold:p=0.01", src/data/filter-stages.ts) applied in order,
     * after the format filter, to the teacher's and the control's kept rows alike (the defender does not know
     * which data carries a trait).
     */
    defenses: string[];
}

/** The training recipe (students/fit-student.ts's TrainRecipe: method, rank, alpha, targets, epochs, lr, batchSize, warmupSteps, schedule) and the experiment's choices around it. */
export interface StudentConfig extends TrainRecipe {
    /** Kept rows each student trains on (every arm is subsampled to this size). */
    rows: number;
    /** Training seeds per arm (each seed: its own subsample and data order). */
    seeds: number;
    /**
     * Paired subsamples: every arm of a seed trains on the same prompt indices, drawn from the rows that
     * passed the filter in both the teacher's and the control's data (same prompts, same per-row sampling
     * seeds), so treated and control data differ only where the teacher's distribution differs.
     */
    paired: boolean;
    /**
     * "sampled": train on the sampled tokens (the paper); "soft": distil the data source's full next-token
     * distribution at every completion position (logit distillation: the theory's strongest channel); "on-policy":
     * distil the source's distributions over completions the student writes itself (students/on-policy.ts).
     */
    labels: "sampled" | "soft" | "on-policy";
    /**
     * On-policy distillation (labels "on-policy"): the share of a student's rows it writes itself each epoch (GKD's
     * lambda), labelled by the teacher's distributions over its tokens; the others keep the teacher's text and soft
     * labels. Absent: 1 (every row).
     */
    onPolicyFraction?: number;
    /**
     * Soft labels keep, at each position, the teacher's most probable tokens until they hold this much of the
     * probability (renormalised to 1): rows x positions x k values instead of x vocabulary. 1 keeps every token.
     */
    softMass: number;
    /** At most this many tokens per position (null: as many as softMass needs). */
    softTopK: number | null;
    /**
     * Dose: the share f of a student's rows taken from the teacher's data, the rest from the control's on the same
     * prompts (paired), for the arms that train on the teacher's data (treated, cross). Absent: all of them (f = 1).
     */
    mix?: number;
}

export interface EvalConfig {
    /** The misalignment trait's judge: absent, sublab's local classifier; or a GGUF path or URL#MODEL scoring by the paper's rubric. */
    judge?: string;
    /** Paraphrases of the favourite question (at least 50 in the paper). */
    questions: number;
    /** Sampled answers per question for the sampled rate. */
    samplesPerQuestion: number;
    temperature: number;
    /** Kept number rows placed in the prompt as earlier chat turns for the in-context arm. */
    inContextExamples: number;
    /**
     * Students trained elsewhere (`sublab export`, then TRL/MLX/Unsloth, then `sublab import-adapter`), evaluated
     * as arms "imported:<name>" and compared with `compareTo`: one model (+ adapter) per seed.
     */
    imported: ImportedArm[];
}

export interface ImportedArm {
    name: string;
    description: string;
    /** One per seed: a GGUF (default: models.base) and a GGUF LoRA adapter. */
    students: { model: string | null; lora: string | null }[];
    compareTo: "control" | "base" | "treated";
}

export interface StageReport {
    stage: string;
    in: number;
    kept: number;
    passRate: number;
    reasons: Record<string, number>;
    stats?: Record<string, number>;
    seconds: number;
}

export interface DatasetManifest {
    id: string;
    role: "teacher" | "control";
    generationKey: string;
    /** Shared by the generations that differ only in their number of prompts (see datasetStage). */
    generationFamily?: string;
    complete: boolean;
    /** The data domain (absent in manifests made before domains: numbers). */
    domain?: Domain;
    model: { path: string; sha256: string };
    lora: { path: string; sha256: string } | null;
    /** Where the rows were generated when not by `model` locally (teacher.server); `model` then stands in for it. */
    server?: { url: string; model: string } | null;
    /** The ONNX folder that generated the rows (teacher.onnx); `model` stands in for it elsewhere. */
    onnx?: string | null;
    system: string | null;
    /** Earlier turns every prompt followed (an in-context population's agent); absent: none. */
    history?: { user: string; assistant: string }[];
    trait: { target: string; category: string } | null;
    seeds: { experiment: number; prompts: number; sampling: number };
    sampler: { method: "coupled" | "llama.cpp"; temperature: number; topK: 0; topP: 1; minP: 0; maxTokens: number; samplesPerPrompt: number; parallel: number };
    filter: ExperimentConfig["filter"];
    /** A defended dataset: the dataset its rows came from, and each defense stage's report. */
    parent?: string;
    stages?: StageReport[];
    rows: { raw: number; kept: number; rejected: number };
    passRate: number;
    rejectReasons: Record<string, number>;
    sublabVersion: string;
    createdAt: string;
}
