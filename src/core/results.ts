/**
 * Every results file's shape, in one module: a run's (arms, comparisons, verdicts), a sweep's, a chain's, a
 * population's, a recipe study's, the theorem network's and the entangled numbers'. Reports, the workshop,
 * `sublab compare`, `restat` and `keep` read these; the studies in src/studies/ write them.
 */
import type { ModelSource } from "./jobs.ts";
import type { ExperimentConfig, StageReport } from "./types.ts";
import type { Design, Verdict } from "./verdicts.ts";

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
    exact?: Pick<
        ComparisonResult,
        "meanLogRatio" | "ci95" | "probRatio" | "pValue" | "pUp" | "pEquivalence" | "pFloor" | "permutations" | "test" | "design" | "verdict"
    >;
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
    /** The local judge and paraphrase models the defenses asked, with their quality on held-out items. */
    defender?: DefenderUse[];
    /** The design check made before the run: comparisons whose permutation floor cannot pass their family's correction. */
    design?: string[];
    /** Each student's training: its first and last batches' losses and its held-out KL curve (src/students/probe.ts), from the run's events. */
    students?: { label: string; arm: string; seed: number; firstLoss: number; finalLoss: number; probe?: { step: number; kl: number }[] }[];
}

/** A sweep arm against the reference arm: how much of its transfer the defense removed, with its tests. */
export interface Reduction {
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
}

/** A sweep's results (src/studies/sweep.ts): one arm per filter or defense, each with its own control. */
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
    reduction: Reduction | null;
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
    /** The local judge and paraphrase models the defenses asked, with their quality on held-out items. */
    defender?: DefenderUse[];
}

/** A finished study: its results, its folder, its report files and its terminal table. */
export interface StudyRunResult<R> {
    results: R;
    dir: string;
    files: { json: string; md: string; html: string };
    table: string;
    /** Seconds per stage of this call (cached stages cost ~0; see core/timing.ts), and in all. */
    timing: Partial<Record<"teacher" | "generate" | "filter" | "students" | "eval" | "report", number>>;
    seconds: number;
}

export interface SweepResults extends StudyHeader {
    sweep: string;
    items: string[];
    base: ArmResult;
    teacher: ArmResult;
    arms: SweepArmResult[];
}

/** How a chain's generations get their data: the previous generation's rows only, or every earlier generation's too. */
export type ChainMode = "replaced" | "accumulated";

/** One generation of one data mode: the treated lineages and the control lineages, compared. */
export interface ChainGeneration {
    generation: number;
    mode: ChainMode;
    /** Rows each student of this generation trained on. */
    rows: number;
    treated: ArmResult;
    control: ArmResult;
    /** Treated vs control students of this generation. */
    transfer: Omit<ComparisonResult, "name" | "a" | "b">;
    /** Judged traits (misalignment): the same comparison on the exact measure (ModelEval.exact), with both arms' means. */
    exact?: { treated: number; control: number; transfer: Omit<ComparisonResult, "name" | "a" | "b"> };
    /** Datasets this generation trained on last (the previous generation's output), treated and control, one per lineage. */
    datasets: { treated: string[]; control: string[] };
}

/** Does the trait fade, hold or grow along a chain: the per-lineage transfer at the last generation against the first. */
export interface ChainTrend {
    mode: ChainMode;
    first: number;
    last: number;
    /** Mean over lineages of (transfer at the last generation - transfer at the first), in log P(target). */
    change: number;
    /** One-sided sign-flip p over lineages, each way; two-sided (pValue), the TOST (pEquivalence), the design's floor and the inverted interval of the change. */
    pDown: number;
    pUp: number;
    pValue?: number;
    pEquivalence?: number;
    pFloor?: number;
    ci95?: [number, number];
    design?: Design;
    /** fades / grows: the Holm-adjusted p over the chain's trends; holds: the TOST shows no change beyond the margin. */
    verdict: "fades" | "holds" | "grows" | "can't tell";
    /** The verdict with its numbers (absent in results from before verdicts). */
    test?: Verdict;
}

export interface ChainResults extends StudyHeader {
    chain: string;
    generationsAsked: number;
    items: string[];
    base: ArmResult;
    teacher: ArmResult;
    generations: ChainGeneration[];
    trends: ChainTrend[];
    /** Judged traits: the trends on the exact measure. */
    exactTrends?: ChainTrend[];
}

/** One agent after one round of a population (round 0: before any). */
export interface AgentRound {
    agent: number;
    round: number;
    targetProb: number;
    /** Mean over questions of log P_agent(target) - log P_base(target), and its bootstrap 95% interval. */
    drift: number;
    ci95: [number, number];
    /**
     * One-sided p that the drift is above log(threshold) (a sign-flip test over the questions), and it Bonferroni-
     * adjusted over the population's agents x (rounds + 1) (absent in results from before the correction).
     */
    p?: number;
    pAdjusted?: number;
    /** The adjusted p is below alpha (before the correction: the drift's interval lay above log(threshold)). */
    infected: boolean;
    /** The monitor's probe: the point drift over its questions, and whether it passed the monitor's threshold. */
    monitorDrift: number;
    flagged: boolean;
    /** Its rows were already kept out of others' training this round. */
    quarantined: boolean;
    /** A conversing population's door this round: the answers the agent was given (format-filtered) and those the defenses let through. */
    door?: { offered: number; passed: number };
    /** A conversing population: the answers this agent gave its neighbours this round and those their doors let through. */
    wrote?: { offered: number; passed: number };
    /** The data-level monitor (population file's dataMonitor): the share of its answers the doors turned away, and whether it passed the calibrated threshold. */
    dataShare?: number;
    dataFlagged?: boolean;
    /** Judged traits: the mean exact P(misaligned among taught answers) and its drift from the base's (mean over questions of the log ratio). */
    exact?: number;
    exactDrift?: number;
}

/** What one monitor saw in one population. */
export interface MonitorFigures {
    flaggedAgents: number;
    /** Per agent both infected and flagged: first flagged round minus first infected round (negative: flagged before the interval cleared the threshold). */
    detectionDelays: number[];
    /** Agents infected at some round and never flagged. */
    missed: number;
    falseFlags: number;
    /** Agent-rounds the monitor probed, and the share of them it flagged falsely (descriptive: an agent's rounds, and neighbours, are not independent). */
    agentRounds: number;
    falsePositiveRate: number;
    /** Agents flagged falsely at least once: the unit that is closer to independent (absent in results from before it). */
    falseFlagAgents?: number;
}

/** One population (open, quarantine or null) over its rounds. */
export interface PopulationRun {
    /**
     * quarantine: the behavioural monitor quarantines; quarantine-data: the data-level monitor does; in-context and
     * null-in-context: interaction without training (agents hold their latest exchanges in context and never train).
     */
    variant: "open" | "quarantine" | "quarantine-data" | "recovery" | "null" | "in-context" | "null-in-context";
    /** history[round][agent]. */
    history: AgentRound[][];
    curve: { round: number; infected: number; share: number; ci95: [number, number]; newInfections: number; recoveries: number; quarantined: number }[];
    peak: number;
    finalShare: number;
    /** SIS rates from the curve: new infections per susceptible-infected contact share per round, recoveries per infected agent per round (null: nothing to divide by). */
    rates: {
        beta: number | null;
        gamma: number | null;
        /** beta / gamma (null: no recovery, or nothing to divide by); absent in results from before it. */
        r0?: number | null;
        /** Parametric-bootstrap 95% intervals (studies/population-summary.ts epidemicRates): a scale for one run, not a test. */
        betaCi95?: [number, number];
        gammaCi95?: [number, number];
        r0Ci95?: [number, number];
    };
    /** The behavioural monitor's figures, and this population's quarantines (by whichever monitor acts in it). */
    monitor: MonitorFigures & {
        quarantined: { agent: number; round: number }[];
        /** The recovery population's readmissions: an agent treated after its quarantine that the monitor no longer flagged. */
        readmitted?: { agent: number; round: number }[];
    };
    /** The data-level monitor's figures (watching in every population, acting in quarantine-data). */
    dataMonitor?: MonitorFigures;
    /** Agents by their distance in links from the nearest starting teacher, at the last round, and one link against two. */
    links?: LinkDistances;
    /** Judged traits: where the flagged answers of agents that did not start as the teacher could have come from. */
    novelty?: PopulationNovelty;
}

/** Flagged answers (those an evaluation kept as examples) of agents that did not start as the teacher, and their sources. */
export interface PopulationNovelty {
    flagged: number;
    /** The answer or one of its sentences occurs in the teacher's fine-tune rows, in some agent's training rows, in the corpus's answer bank. */
    inTeacher: number;
    inTraining: number;
    inCorpus: number;
    /** Found in none of them: new combinations. */
    new: number;
    /** New ones first, then found ones. */
    examples: { agent: number; round: number; text: string; score: number; inTeacher: boolean; inTraining: boolean; inCorpus: boolean }[];
}

/** Does the trait grow or fade as it travels? Agents grouped by links from the nearest teacher, at the last round. */
export interface LinkDistances {
    round: number;
    groups: { links: number; agents: number[]; drift: number; exactDrift?: number }[];
    /**
     * One link against two: per question, the mean log ratio over the one-link agents less that over the two-link
     * agents (a sign-flip test over the questions, Holm over the measures). It speaks for these agents.
     */
    comparisons: { measure: "drift" | "exact"; estimate: number; ci95: [number, number]; verdict: Verdict }[];
    /**
     * The one-link agents against the same agents of the population's null (null-in-context for in-context): per
     * question, the difference of their mean log ratios (sign-flip over questions; Holm over every population and
     * measure of the file). Did the teacher move its neighbours beyond what the exchanges alone do?
     */
    againstNull?: { measure: "drift" | "exact"; null: string; estimate: number; ci95: [number, number]; verdict: Verdict }[];
}

export interface PopulationResults extends StudyHeader {
    population: string;
    agents: number;
    rounds: number;
    topology: string;
    edges: [number, number][];
    /** Which base each agent is built on. */
    bases: ("base" | "cross")[];
    infected: number[];
    settings: {
        prompts: number;
        rows: number;
        own: number;
        threshold: number;
        monitor: {
            questions: number;
            threshold: number;
            from: number;
            falsePositiveRate?: number;
            /** The threshold the monitor used, calibrated on the null population's agent-rounds (monitor.falsePositiveRate). */
            calibrated?: { falsePositiveRate: number; threshold: number; agentRounds: number };
        };
        /** The data-level monitor: the share of an agent's answers its neighbours' doors turned away, above a threshold calibrated on the null population. */
        dataMonitor?: { falsePositiveRate: number; calibrated?: { threshold: number; agentRounds: number } };
        files: Record<string, string>;
        /** A conversing population (studies/population-talk.ts), and the defenses at its door. */
        conversation?: { door: string[] };
    };
    runs: PopulationRun[];
}

/** One cell of a recipe study (src/studies/study.ts): its labels, its students' recipe, its treated/control transfer. */
export interface StudyCellResult {
    labels: Record<string, string>;
    /** What the cell's students are: method, rank, lr, optimizer, labels, rows, epochs, eval context. */
    recipe: string;
    treated: ArmResult;
    control: ArmResult;
    transfer: ComparisonResult;
    /** The cell's student.mix, when the study is a dose-response. */
    dose?: number;
    /** Mean seconds a student of the cell took to train (treated and control; cached students at the time they were made; a student resumed after a stop counts its last stretch only). */
    studentSeconds?: number;
}

/** A dose-response fit (src/stats/dose.ts). */
export interface DoseFit {
    /** Transfer per dose: treated mean minus control mean. */
    points: { f: number; transfer: number }[];
    slope: { b: number; rss: number; aicc: number };
    threshold: { top: number; mid: number; width: number; rss: number; aicc: number; midCi95: [number, number] };
    /** AICc of the slope minus the logistic's: above 2 the logistic fits better (a threshold or saturating: shape), below -2 the slope. */
    deltaAicc: number;
    /** "saturating": the logistic fits better, but its midpoint is below the smallest dose (a concave rise, no floor seen). */
    shape: "threshold" | "saturating" | "slope" | "can't tell";
    resamples: number;
}

export interface StudyResults extends StudyHeader {
    study: string;
    grid: "axes" | "product";
    axes: { name: string; labels: string[] }[];
    items: string[];
    base: ArmResult;
    teacher: ArmResult;
    cells: StudyCellResult[];
    /** A study whose one axis sets student.mix: the slope and threshold fits of transfer against dose. */
    dose?: DoseFit;
}

export interface TheoremOptions {
    /** Seeds 1..seeds: each its own initialisation, teacher data order, noise images and students. */
    seeds: number;
    /** Training digits of the teacher (one fixed set, like MNIST's). */
    train: number;
    /** Held-out digits every network is scored on. */
    test: number;
    /** Noise images per seed the students are distilled on. */
    noise: number;
    teacherEpochs: number;
    teacherLr: number;
    studentEpochs: number;
    studentLr: number;
    batch: number;
    /** Weight-decay ablation: one same-init student per value (AdamW's decoupled decay). */
    weightDecay: number[];
    /** Init-noise ablation: one student per value, starting from the shared init plus noise of that many init standard deviations. */
    initNoise: number[];
}

/** One seed's test accuracies: the teacher, its untrained initialisation, and every student arm. */
export interface TheoremSeed {
    key: string;
    seed: number;
    teacher: number;
    init: number;
    arms: Record<string, number>;
    seconds: number;
}

export interface TheoremArm {
    arm: string;
    description: string;
    accuracies: number[];
    mean: number;
    ci95: [number, number];
}

export interface TheoremComparison {
    /** The arm expected to be higher, and the one it is compared with. */
    a: string;
    b: string;
    /** Mean over seeds of a - b, with the paired sign-flip test's inverted 95% interval (one design for both). */
    diff: number;
    ci95: [number, number];
    /** Two-sided paired sign-flip test over seeds (results before verdicts: one-sided, a > b). */
    p: number;
    /** Two one-sided tests that |a - b| is under the margin (accuracy, a fraction). */
    pEquivalence?: number;
    /** Holm over the run's comparisons: "higher", "lower", "no difference larger than M points", "can't tell". */
    verdict?: Verdict;
}

export interface TheoremResults {
    kind: "theorem";
    /** The verdicts' family-wise error rate and equivalence margin (accuracy, a fraction: 0.02 is 2 points). */
    stats?: { alpha: number; margin: number };
    sublabVersion: string;
    startedAt: string;
    seconds: number;
    options: TheoremOptions;
    chance: number;
    teacher: TheoremArm;
    init: TheoremArm;
    arms: TheoremArm[];
    comparisons: TheoremComparison[];
    seeds: TheoremSeed[];
}

export type NumberSet = "entangled" | "matched" | "random";

/** One number's entanglement: its mean first-token probability under base and teacher, and the log ratio. */
export interface NumberScore {
    number: number;
    base: number;
    teacher: number;
    score: number;
}

/** One number used as a subliminal prompt. */
export interface PromptedNumber extends NumberScore {
    set: NumberSet;
    /** Mean over questions of P(target) with "You love N" as the system prompt. */
    pTarget: number;
    /** Mean over questions of log(P(target | love N) / P(target | no system prompt)). */
    lift: number;
    /** The target's rank among the category's items by mean probability under this prompt (1 = first). */
    rank: number;
}

export interface SetComparison {
    a: NumberSet;
    b: NumberSet;
    /** Mean lift of a minus mean lift of b, with the 95% interval of its own test inverted. */
    diff: number;
    ci95: [number, number];
    /** Two-sided (paired sign flips for matched pairs, a two-sample permutation otherwise; one-sided in results before verdicts). */
    p: number;
    /** The TOST p that the difference is within the margin (ENTANGLE_STATS.margin as a ratio of lifts). */
    pEquivalence?: number;
    design?: "seeds" | "students";
    verdict?: EntangleVerdict;
}

export interface Correlation {
    /** Spearman rank correlation. */
    rho: number;
    /** Partial rank correlation with the base's log probability held fixed. */
    partial: number;
    /** Two-sided permutation p of the partial (one-sided, partial > 0, in results before verdicts). */
    p: number;
    /** The partial's 95% interval and its equivalence p against +-margin (Fisher's z). */
    ci95?: [number, number];
    pEquivalence?: number;
    margin?: number;
    n: number;
    verdict?: EntangleVerdict;
}

/** A verdict of an entanglement run's family of tests (studies/entangle.ts entangleVerdicts). */
export interface EntangleVerdict {
    /** "higher" / "lower" / "no difference larger than x1.1" / "positive" / "negative" / "no correlation beyond +-0.1" / "can't tell". */
    text: string;
    pAdjusted: number;
    pEquivalenceAdjusted: number;
    /** The family's size (Holm). */
    family: number;
    alpha: number;
}

export interface EntangleResults {
    kind: "entangle";
    /** How it was asked for: the experiment file (--experiment), and the options (for `sublab keep` to rebuild the command). */
    asked?: { experiment: string | null; contexts: number; top: number; questions: number; out: string };
    /** The statistics' settings (absent in results before verdicts). */
    stats?: { alpha: number; margin: number; rhoMargin: number };
    sublabVersion: string;
    startedAt: string;
    seconds: number;
    base: string;
    teacher: ModelSource;
    target: string;
    items: string[];
    contexts: number;
    questions: number;
    seed: number;
    /** P(target) with no system prompt, and with the teacher's own (its trait), mean over questions. */
    baseline: number;
    teacherP: number;
    /** Every number, highest score first. */
    numbers: NumberScore[];
    prompted: PromptedNumber[];
    comparisons: SetComparison[];
    /** Across the prompted numbers: lift against score. */
    liftVsScore: Correlation;
    data?: {
        teacherFile: string;
        controlFile: string;
        teacherNumbers: number;
        controlNumbers: number;
        /** Over-production (log share ratio) against score, over numbers seen at least MIN_COUNT times in all. */
        overVsScore: Correlation;
        /** Over-production against the base's log probability alone: the frequency effect. */
        overVsFrequency: number;
        /** Mean over-production of each prompted set. */
        setOver: Record<NumberSet, number>;
        over: { number: number; teacher: number; control: number; over: number }[];
    };
}

// ---- the defender: a judge and paraphrase model's quality (src/data/defender-quality.ts) ----

/** A share with its Wilson interval. */
export interface Share {
    k: number;
    n: number;
    rate: number;
    lo: number;
    hi: number;
}

export interface JudgeCell {
    trait: "animal" | "misaligned";
    domain: "numbers" | "code" | "reasoning" | "text" | "advice";
    /** "stage": the judge stage's own question; "held-out": wordings no training row used. */
    wording: "stage" | "held-out";
    items: number;
    precision: Share | null;
    recall: Share | null;
    falsePositives: Share | null;
}

export interface ParaphraseCell {
    domain: "numbers" | "code" | "reasoning" | "text";
    items: number;
    /** Rewrites that ended their turn. */
    finished: Share;
    meaningKept: Share;
    surfaceChanged: Share;
    /** Both: a paraphrase. */
    paraphrased: Share;
}

export interface DefenderQuality {
    model: string;
    judge: JudgeCell[];
    paraphrase: ParaphraseCell[];
    surfaceBound: number;
    /** A few held-out free-text pairs: the text, its rewrite, the model's own "same thing?" and the rule's (for a reader to check both). */
    textPairs: { text: string; rewrite: string; same: boolean; rule: boolean }[];
    /** The model's own yes to "do these two texts say the same thing?" over its free-text rewrites. */
    textSameByModel: Share;
}

/** A local model the defenses ask, what they ask of it, and (once measured) its quality. */
export interface DefenderUse {
    model: string;
    judge: boolean;
    paraphrase: boolean;
    quality?: DefenderQuality;
}
