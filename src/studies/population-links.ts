/**
 * Does the trait grow or fade as it travels? A population's agents by their distance in links from the nearest
 * starting teacher, one link against two, and one link against the same agents of the null population.
 */
import type { LinkDistances, PopulationRun } from "../core/results.ts";
import type { StatsSettings } from "../core/verdicts.ts";
import { mean } from "../stats/stats.ts";
import { familyVerdicts, locationTest } from "../stats/verdict.ts";
import type { Rng } from "../util/rng.ts";
import { isNullPopulation } from "./population-summary.ts";

/** Each agent's distance in links from the nearest of `from` (breadth first over the undirected edges); -1: unreachable. */
export function linkDistances(n: number, edges: readonly [number, number][], from: readonly number[]): number[] {
    const dist = new Array<number>(n).fill(-1);
    let frontier = [...from];
    for (const a of frontier) dist[a] = 0;
    for (let d = 1; frontier.length > 0; d++) {
        const next: number[] = [];
        for (const a of frontier)
            for (const [x, y] of edges) {
                const b = x === a ? y : y === a ? x : -1;
                if (b >= 0 && dist[b] === -1) {
                    dist[b] = d;
                    next.push(b);
                }
            }
        frontier = next;
    }
    return dist;
}

/** Per question, the mean of `x` over agents `a` less the mean of `y` over agents `b` (rows: agents; columns: questions). */
function questionDifference(x: number[][], a: readonly number[], y: number[][], b: readonly number[]): number[] {
    return x[a[0]!]!.map((_, k) => mean(a.map((i) => x[i]![k]!)) - mean(b.map((i) => y[i]![k]!)));
}

/**
 * The last round's agents grouped by links from the nearest teacher, and one link against two on each measure:
 * per question, mean over the one-link agents of their log ratio less the same over the two-link agents, a
 * sign-flip test over the questions (Holm over the measures; TOST at the stats margin for "no difference").
 * perQuestion[measure][agent]: the last round's per-question log ratios against the agent's base.
 */
export function compareLinks(
    round: number,
    dist: readonly number[],
    perQuestion: { drift: number[][]; exact?: number[][] },
    rng: Rng,
    stats: StatsSettings,
    variant: string,
): LinkDistances {
    const links = [...new Set(dist.filter((d) => d > 0))].sort((a, b) => a - b);
    const groups = links.map((l) => {
        const agents = dist.flatMap((d, a) => (d === l ? [a] : []));
        const drift = mean(agents.map((a) => mean(perQuestion.drift[a]!)));
        const exact = perQuestion.exact;
        return { links: l, agents, drift, ...(exact ? { exactDrift: mean(agents.map((a) => mean(exact[a]!))) } : {}) };
    });
    const near = groups.find((g) => g.links === 1);
    const far = groups.find((g) => g.links === 2);
    if (!near || !far) return { round, groups, comparisons: [] };
    const measures = (["drift", "exact"] as const).flatMap((m) => {
        const q = perQuestion[m];
        if (!q) return [];
        const design = { kind: "seeds" as const, d: questionDifference(q, near.agents, q, far.agents) };
        return [{ measure: m, design, test: locationTest(design, rng, stats) }];
    });
    const words = {
        "moved toward": "one link higher",
        "moved away": "two links higher",
        "no shift larger than": `no difference larger than x${stats.margin.toFixed(2)}`,
        "can't tell": "can't tell",
    };
    const verdicts = familyVerdicts(measures, `${variant}: one link against two`, "", stats).map((v) => ({ ...v, text: words[v.word] }));
    return {
        round,
        groups,
        comparisons: measures.map((m, i) => ({ measure: m.measure, estimate: m.test.estimate, ci95: m.test.ci95, verdict: verdicts[i]! })),
    };
}

/**
 * Each population's one-link agents against the same agents of its null population (null-in-context for the
 * in-context one), at the last round: per question, the difference of their mean log ratios, a sign-flip test over
 * the questions, Holm over every population and measure compared. Written into each run's `links.againstNull`.
 */
export function againstNull(
    runs: PopulationRun[],
    last: ReadonlyMap<string, { drift: number[][]; exact?: number[][] }>,
    dist: readonly number[],
    rng: Rng,
    stats: StatsSettings,
    target: string,
): void {
    const near = dist.flatMap((d, a) => (d === 1 ? [a] : []));
    if (near.length === 0) return;
    const members = runs.flatMap((run) => {
        const nullName = run.variant === "in-context" ? "null-in-context" : "null";
        const mine = last.get(run.variant);
        const theirs = last.get(nullName);
        if (!run.links || !mine || !theirs || isNullPopulation(run.variant)) return [];
        return (["drift", "exact"] as const).flatMap((m) => {
            const [x, y] = [mine[m], theirs[m]];
            if (!x || !y) return [];
            const design = { kind: "seeds" as const, d: questionDifference(x, near, y, near) };
            return [{ run, measure: m, nullName, design, test: locationTest(design, rng, stats) }];
        });
    });
    const verdicts = familyVerdicts(members, "one link against the null population", target, stats);
    members.forEach((m, i) => {
        m.run.links!.againstNull = [
            ...(m.run.links!.againstNull ?? []),
            { measure: m.measure, null: m.nullName, estimate: m.test.estimate, ci95: m.test.ci95, verdict: verdicts[i]! },
        ];
    });
}
