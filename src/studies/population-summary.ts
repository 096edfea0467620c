/**
 * A population's summary (studies/population.ts): its curve, SIS rates and monitor figures read off its history.
 */
import type { AgentRound, ModelEval, MonitorFigures, PopulationRun } from "../core/results.ts";
import { signFlipTest } from "../stats/permutation.ts";
import { bootstrapMeanCI, mean, questionLogRatios, wilson } from "../stats/stats.ts";
import { Rng } from "../util/rng.ts";
import type { PopulationConfig } from "./population-file.ts";

type Variant = PopulationRun["variant"];

/** A population where no agent starts as the teacher: every flag there is false. */
export const isNullPopulation = (v: Variant) => v === "null" || v === "null-in-context";

/**
 * One population's curve and monitor figures: infected share per round with a Wilson interval, new infections
 * and recoveries per round, the SIS rates they imply (beta = new infections per susceptible-infected contact
 * share, gamma = recoveries per infected), and the monitor's detection delays and false flags.
 */
export function summarizeRun(
    variant: Variant,
    history: AgentRound[][],
    quarantinedAt: (number | null)[],
    p: Pick<PopulationConfig, "agents" | "monitor">,
    readmitted: { agent: number; round: number }[] = [],
): PopulationRun {
    const n = p.agents;
    const curve = history.map((row, r) => {
        const infected = row.filter((x) => x.infected).length;
        const prev = r > 0 ? history[r - 1]! : null;
        const newly = prev ? row.filter((x) => x.infected && !prev[x.agent]!.infected).length : 0;
        const recovered = prev ? row.filter((x) => !x.infected && prev[x.agent]!.infected).length : 0;
        return {
            round: r,
            infected,
            share: infected / n,
            ci95: wilson(infected, n),
            newInfections: newly,
            recoveries: recovered,
            quarantined: row.filter((x) => x.quarantined).length,
        };
    });
    let contact = 0;
    let infectedRounds = 0;
    let newTotal = 0;
    let recTotal = 0;
    for (let r = 1; r < curve.length; r++) {
        const i = curve[r - 1]!.infected;
        contact += ((n - i) * i) / n;
        infectedRounds += i;
        newTotal += curve[r]!.newInfections;
        recTotal += curve[r]!.recoveries;
    }
    return {
        variant,
        history,
        curve,
        peak: Math.max(...curve.map((x) => x.share)),
        finalShare: curve.at(-1)!.share,
        rates: epidemicRates(newTotal, contact, recTotal, infectedRounds),
        monitor: {
            ...monitorFigures(variant, history, p, (x) => x.flagged),
            quarantined: quarantinedAt.flatMap((q, a) => (q === null ? [] : [{ agent: a, round: q }])),
            ...(variant === "recovery" ? { readmitted } : {}),
        },
        ...(history.some((row) => row.some((x) => x.dataShare !== undefined))
            ? { dataMonitor: monitorFigures(variant, history, p, (x) => x.dataFlagged === true) }
            : {}),
    };
}

/** One monitor's figures in one population: detection delays, missed infections and false flags, from its flags. */
function monitorFigures(
    variant: Variant,
    history: AgentRound[][],
    p: Pick<PopulationConfig, "agents" | "monitor">,
    flagged: (x: AgentRound) => boolean,
): MonitorFigures {
    const n = p.agents;
    // Detection: the first round the monitor flagged each agent against the first round it was infected.
    const firstInfected = Array.from({ length: n }, (_, a) => history.findIndex((row) => row[a]!.infected));
    const firstFlagged = Array.from({ length: n }, (_, a) => history.findIndex((row) => flagged(row[a]!)));
    const delays = firstInfected.flatMap((fi, a) => (fi >= 0 && firstFlagged[a]! >= 0 ? [firstFlagged[a]! - fi] : []));
    const missed = firstInfected.filter((fi, a) => fi >= 0 && firstFlagged[a]! < 0).length;
    const flags = history.flatMap((row) => row.filter(flagged));
    // In the null population no agent carries the trait: every flag is false, whatever the drift.
    const falseFlagged = isNullPopulation(variant) ? flags : flags.filter((x) => !x.infected);
    const monitored = history.filter((row) => row[0]!.round >= p.monitor.from).length * n;
    return {
        flaggedAgents: firstFlagged.filter((f) => f >= 0).length,
        detectionDelays: delays,
        missed,
        falseFlags: falseFlagged.length,
        agentRounds: monitored,
        falsePositiveRate: monitored > 0 ? falseFlagged.length / monitored : 0,
        falseFlagAgents: new Set(falseFlagged.map((x) => x.agent)).size,
    };
}

/**
 * The monitor's threshold calibrated on the null population's drifts (a log ratio): the monitor flags a drift
 * strictly above it, so at most floor(falsePositiveRate x n) of the n null agent-rounds are flagged (fewer on ties).
 * In-sample: the null population's own false-positive rate is held by construction, not estimated.
 */
export function calibrateMonitor(drifts: readonly number[], falsePositiveRate: number): number {
    if (drifts.length === 0)
        throw new Error("monitor.falsePositiveRate: the null population has no monitored agent-round (is monitor.from past the last round?)");
    const sorted = [...drifts].sort((a, b) => b - a);
    return sorted[Math.min(Math.floor(falsePositiveRate * sorted.length), sorted.length - 1)]!;
}

/**
 * SIS rates read off a curve: beta = new infections per susceptible-infected contact share, gamma = recoveries per
 * infected agent-round, R0 = beta / gamma; each with a 95% interval from a parametric bootstrap (new infections
 * Poisson, recoveries binomial over the infected agent-rounds; 2,000 draws, a fixed seed). Agents of one
 * population are not independent: the intervals are a scale for one run, not a test. Null: nothing to divide by.
 */
export function epidemicRates(newTotal: number, contact: number, recTotal: number, infectedRounds: number): PopulationRun["rates"] {
    const beta = contact > 0 ? newTotal / contact : null;
    const gamma = infectedRounds > 0 ? recTotal / infectedRounds : null;
    const r0 = beta !== null && gamma !== null && gamma > 0 ? beta / gamma : null;
    if (beta === null && gamma === null) return { beta, gamma, r0 };
    const rng = new Rng(1);
    const poisson = (lambda: number) => {
        const l = Math.exp(-lambda);
        let k = 0;
        for (let p = rng.next(); p > l; p *= rng.next()) k++;
        return k;
    };
    const binomial = (n: number, q: number) => {
        let k = 0;
        for (let i = 0; i < n; i++) if (rng.next() < q) k++;
        return k;
    };
    const draws = { beta: [] as number[], gamma: [] as number[], r0: [] as number[] };
    for (let d = 0; d < 2000; d++) {
        const b = beta !== null ? poisson(newTotal) / contact : NaN;
        const g = gamma !== null ? binomial(infectedRounds, gamma) / infectedRounds : NaN;
        draws.beta.push(b);
        draws.gamma.push(g);
        draws.r0.push(g > 0 ? b / g : Infinity);
    }
    const ci = (xs: number[]): [number, number] => {
        const sorted = xs.sort((x, y) => x - y);
        return [sorted[50]!, sorted[1949]!];
    };
    return {
        beta,
        gamma,
        r0,
        ...(beta !== null ? { betaCi95: ci(draws.beta) } : {}),
        ...(gamma !== null ? { gammaCi95: ci(draws.gamma) } : {}),
        ...(beta !== null && gamma !== null ? { r0Ci95: ci(draws.r0) } : {}),
    };
}

/** An agent's drift from its base: per-question log ratios of P(target), with their mean and bootstrap interval. */
export function drift(agent: ModelEval, base: ModelEval, rng: Rng, floor: number): { mean: number; ci95: [number, number]; perQuestion: number[] } {
    const d = questionLogRatios(agent, base, floor);
    return { mean: mean(d), ci95: bootstrapMeanCI([d], rng), perQuestion: d };
}

/**
 * Whether an agent's drift is above log(threshold): a one-sided sign-flip test over its per-question log ratios
 * less log(threshold), Bonferroni-adjusted over the population's `family` agent-rounds. The questions are
 * paraphrases asked of one model: the test says this agent's answers moved, not that agents like it would.
 */
export function infectionTest(perQuestion: readonly number[], threshold: number, family: number, rng: Rng, iters = 20000): { p: number; pAdjusted: number } {
    const { p } = signFlipTest(
        perQuestion.map((x) => x - Math.log(threshold)),
        rng,
        iters,
    );
    return { p, pAdjusted: Math.min(1, p * family) };
}
