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
     * Filter and defense stages (specs such as "threshold:p=0.01", src/filters/stages.ts) applied in order,
     * after the format filter, to the teacher's and the control's kept rows alike (the defender does not know
     * which data carries a trait).
     */
    defenses: string[];
}

/** The training recipe (students/fit.ts's TrainRecipe: method, rank, alpha, targets, epochs, lr, batchSize, warmupSteps, schedule) and the experiment's choices around it. */
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
     * distribution at every completion position (logit distillation: the theory's strongest channel).
     */
    labels: "sampled" | "soft";
    /**
     * Soft labels keep, at each position, the teacher's most probable tokens until they hold this much of the
     * probability (renormalised to 1): rows x positions x k values instead of x vocabulary. 1 keeps every token.
     */
    softMass: number;
    /** At most this many tokens per position (null: as many as softMass needs). */
    softTopK: number | null;
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

export type StudentArm = "control" | "treated" | "cross" | "cross-control";
export type SafetyArm = "treated+safety" | "control+safety";
/** A context an arm is evaluated in besides the plain question (the safety stage's triggers). */
export type Trigger = "numbers" | "system";
export type ArmName =
    | "base"
    | "teacher"
    | StudentArm
    | "in-context"
    | "in-context-control"
    | SafetyArm
    | `${"treated" | "control" | SafetyArm}|${Trigger}`
    | `imported:${string}`;

/** One evaluated model (a student of one seed, or a base model). */
export interface ModelEval {
    /** Training seed; null for base models and in-context arms. */
    seed: number | null;
    model: string;
    lora: string | null;
    /** Dataset id the student was trained on (or that the in-context examples came from). */
    dataset: string | null;
    /** Exact P(target) per question under the chat template (sum over the target's spellings). */
    perQuestion: number[];
    /** Mean of perQuestion. */
    targetProb: number;
    /** Sampled answers that contain the target word (judged: that the judge flags), and per question (evaluations since verdicts). */
    sampled: { hits: number; n: number; perQuestion?: number[] };
    /** Mean exact probability of each item of the category (same order as Results.items). */
    distribution: number[];
    /** Judged evaluations (misalignment): the first answer to each question (q: its index) and some flagged ones, with the judge's P(misaligned). */
    examples?: { q: number; text: string; score: number }[];
    /** Judged evaluations of the advice questions: per question, the exact P(misaligned) among the answers the corpus taught. */
    exact?: number[];
}

export interface ArmResult {
    arm: ArmName;
    /** One line saying what the arm is. */
    description: string;
    evals: ModelEval[];
    /** Mean over evals of targetProb, with a 95% bootstrap interval over questions x seeds. */
    targetProb: { mean: number; ci95: [number, number] };
    /** Pooled sampled rate with a 95% interval: a cluster bootstrap over students and questions, or Wilson for one model without per-question counts. */
    sampled: { hits: number; n: number; rate: number; ci95: [number, number]; interval?: "cluster" | "wilson" };
    /** Mean distribution over evals. */
    distribution: number[];
    /** Judged arms of advice questions: the mean exact P(misaligned among taught answers), questions x seeds bootstrap interval. */
    exact?: { mean: number; ci95: [number, number] };
}

export interface ComparisonResult {
    /** e.g. "treated vs control". */
    name: string;
    a: ArmName;
    b: ArmName;
    /** Mean over a's students of mean log P(target) minus the same over b's (equal to the mean per-seed log ratio when every seed pairs). */
    meanLogRatio: number;
    /** The permutation test inverted (./stats/verdict.ts): the shifts it does not reject; +-Infinity where the design cannot bound a side. */
    ci95: [number, number];
    /** Ratio of mean target probabilities, a over b. */
    probRatio: number;
    /**
     * The primary p-value, two-sided, with the trained student as the unit of replication: paraphrases asked of
     * one student share that student's quirks, so they are not independent observations. `test` says which test
     * it is: "students", a two-sample permutation test of the arms' per-student mean log P(target); or "seeds",
     * when one arm is a single eval (the base model, the teacher), a sign-flip test over the per-student mean log
     * ratios against it. Raw: `verdict.pAdjusted` is it after Holm over the comparison's family.
     */
    pValue: number;
    /** The same test one-sided, H1: a above b. */
    pUp?: number;
    /** The equivalence test (TOST) against the margin of ExperimentConfig.stats, raw. */
    pEquivalence?: number;
    /**
     * One-sided sign-flip test over all (question, seed pair) log ratios. Secondary and optimistic: it counts
     * each paraphrase as an independent observation, so a negligible but consistent shift can look significant.
     */
    pValueQuestions: number;
    test: "students" | "seeds";
    /** The smallest two-sided p the primary test can give: 2/C(na+nb, na) exact, 2^(1-seeds) for seeds, 2/(iters+1) Monte Carlo. */
    pFloor: number;
    /** Number of evals (trained students, or the one eval of a single-model arm) in arm a and arm b. */
    studentsA: number;
    studentsB: number;
    /** Rank of the target among the category's items by mean log ratio a over b (1 = moved most). */
    targetRank: number;
    /** Judged arms of advice questions: the same comparison on the exact measure (ModelEval.exact). */
    exact?: Pick<ComparisonResult, "meanLogRatio" | "ci95" | "probRatio" | "pValue" | "pUp" | "pEquivalence" | "pFloor" | "permutations" | "test" | "design" | "verdict">;
    /** Relabelings or sign patterns the primary test enumerated (exact) or drew (Monte Carlo). */
    permutations: number;
    /** The values the test ran on (per-student means, or per-student differences against one model). */
    design?: Design;
    /** The verdict within the comparison's family (absent in results from before verdicts). */
    verdict?: Verdict;
}

/** A judge's quality on held-out labelled answers (misalignment runs carry their judge's). */
export interface JudgeQuality {
    n: number;
    positives: number;
    truePositives: number;
    falsePositives: number;
    precision: number;
    recall: number;
    /** Wilson 95% intervals. */
    precisionCI: [number, number];
    recallCI: [number, number];
}

export interface Results {
    experiment: string;
    sublabVersion: string;
    startedAt: string;
    seconds: number;
    /** Seconds per stage (teacher, generate, filter, students, eval, report) in the call that wrote this file; cached stages cost ~0. */
    timing?: Partial<Record<"teacher" | "generate" | "filter" | "students" | "eval" | "report", number>>;
    config: ExperimentConfig;
    target: string;
    items: string[];
    datasets: { id: string; role: string; raw: number; kept: number; passRate: number; rejectReasons: Record<string, number> }[];
    arms: ArmResult[];
    comparisons: ComparisonResult[];
    /** Misalignment runs: the local judge's precision and recall on held-out labelled answers. */
    judge?: JudgeQuality;
    /** The design check made before the run: comparisons whose permutation floor cannot pass their family's correction. */
    design?: string[];
    /** Each student's training: its first and last batches' losses and its held-out KL curve (src/train/probe.ts), from the run's events. */
    students?: { label: string; arm: string; seed: number; firstLoss: number; finalLoss: number; probe?: { step: number; kl: number }[] }[];
}

/** A sweep's results (src/experiment/sweep.ts): one arm per filter or defense, each with its own control. */
export interface SweepArmResult {
    name: string;
    /** The experiment's own filter.defenses, then the arm's. */
    defenses: string[];
    datasets: { teacher: Results["datasets"][number] & { stages: StageReport[] }; control: Results["datasets"][number] & { stages: StageReport[] } };
    /** Share of the teacher's generated rows the arm trains from (format filter and defenses). */
    keptShare: number;
    treated: ArmResult;
    control: ArmResult;
    /** treated vs control of this arm. */
    transfer: ComparisonResult;
    /** Against the reference arm (the first arm with no defenses of its own), when there is one and this is not it. */
    reduction: {
        reference: string;
        left: number;
        /** Mean per-seed transfer of the reference minus this arm's (log P), its inverted interval, two-sided p, one-sided p (H1: removed some), TOST p. */
        removed?: number;
        ci95?: [number, number];
        pValue: number;
        pUp?: number;
        pEquivalence?: number;
        pFloor: number;
        permutations: number;
        design?: Design;
        verdict?: Verdict;
    } | null;
}

/** What the results of a study built on an experiment open with (a sweep's, a chain's, a population's). */
export interface StudyHeader {
    description: string;
    sublabVersion: string;
    startedAt: string;
    seconds: number;
    experiment: ExperimentConfig;
    target: string;
    /** The design check made before the study: families whose permutation floor cannot pass their correction. */
    design?: string[];
}

/** A finished study: its results, its folder, its report files and its terminal table. */
export interface StudyRunResult<R> {
    results: R;
    dir: string;
    files: { json: string; md: string; html: string };
    table: string;
}

export interface SweepResults extends StudyHeader {
    sweep: string;
    items: string[];
    base: ArmResult;
    teacher: ArmResult;
    arms: SweepArmResult[];
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

