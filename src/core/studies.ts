/**
 * The results of the studies built on runs (src/experiment/chain.ts, population.ts, study.ts): a chain's
 * generations, a population's rounds and a recipe study's cells, as results.json holds them.
 */
import type { ArmResult, ComparisonResult, StudyHeader } from "./types.ts";
import type { Design, Verdict } from "./verdicts.ts";

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
    /** The interval lies above log(threshold). */
    infected: boolean;
    /** The monitor's probe: the point drift over its questions, and whether it passed the monitor's threshold. */
    monitorDrift: number;
    flagged: boolean;
    /** Its rows were already kept out of others' training this round. */
    quarantined: boolean;
}

/** One population (open, quarantine or null) over its rounds. */
export interface PopulationRun {
    variant: "open" | "quarantine" | "null";
    /** history[round][agent]. */
    history: AgentRound[][];
    curve: { round: number; infected: number; share: number; ci95: [number, number]; newInfections: number; recoveries: number; quarantined: number }[];
    peak: number;
    finalShare: number;
    /** SIS rates from the curve: new infections per susceptible-infected contact share per round, recoveries per infected agent per round (null: nothing to divide by). */
    rates: { beta: number | null; gamma: number | null };
    monitor: {
        flaggedAgents: number;
        quarantined: { agent: number; round: number }[];
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
    };
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
    settings: { prompts: number; rows: number; own: number; threshold: number; monitor: { questions: number; threshold: number; from: number }; files: Record<string, string> };
    runs: PopulationRun[];
}

/** One cell of a recipe study (src/experiment/study.ts): its labels, its students' recipe, its treated/control transfer. */
export interface StudyCellResult {
    labels: Record<string, string>;
    /** What the cell's students are: method, rank, lr, optimizer, labels, rows, epochs, eval context. */
    recipe: string;
    treated: ArmResult;
    control: ArmResult;
    transfer: ComparisonResult;
}

export interface StudyResults extends StudyHeader {
    study: string;
    grid: "axes" | "product";
    axes: { name: string; labels: string[] }[];
    items: string[];
    base: ArmResult;
    teacher: ArmResult;
    cells: StudyCellResult[];
}
