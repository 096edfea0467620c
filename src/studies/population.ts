/**
 * `sublab population`: agents that learn from each other's outputs. N agents, each a model of one of the
 * embedded bases, sit on a topology. Every round each agent writes data (the experiment's domain), then each
 * continues its own training (full fine-tune from where it stands) on its neighbours' rows mixed with its own,
 * then every agent is measured with the exact probe. One or more agents start as the teacher (the trait); the
 * rest start as their base.
 *
 * Populations run on the same prompts and sampling seeds:
 *   open             the trait spreads as it can;
 *   quarantine       a monitor probes every agent after each round and quarantines one whose drift passes its
 *                    threshold: from the next round on, nobody trains on that agent's rows (or asks it anything);
 *   quarantine-data  (dataMonitor) the data-level monitor quarantines instead, reading what the agent wrote;
 *   recovery         (recovery) quarantined agents are treated and readmitted;
 *   null             no agent carries the trait, the monitor on: its flags are false positives;
 *   in-context, null-in-context  (inContext) the conversation held in context, nobody trained.
 * An agent is infected when a one-sided sign-flip test over the evaluation's questions puts its drift (mean of
 * log P_agent(target) - log P_base(target), its own base's) above log(threshold), Bonferroni-adjusted over agents x
 * (rounds + 1). The monitor is a cheaper probe: the point drift over its first `monitor.questions` questions.
 *
 * The population file's fields: studies/population-file.ts.
 *
 * Every dataset, training and evaluation is cached as in `sublab run`, so a population resumes where it stopped,
 * and the populations share whatever they have in common (the open and quarantine populations are one until the
 * first quarantine).
 */
import path from "node:path";
import { fileHash } from "../core/cache.ts";
import { checkInterrupted, type RunOptions, type StageContext } from "../core/context.ts";
import type { ModelSource } from "../core/jobs.ts";
import type { KeptRow } from "../core/rows.ts";
import type { AgentRound, ModelEval, PopulationResults, PopulationRun, StudyRunResult } from "../core/results.ts";
import type { DatasetManifest } from "../core/types.ts";
import { datasetStage } from "../data/dataset-stage.ts";
import { evalStage } from "../evaluate/eval-stage.ts";
import { comparisonFloor, statisticsRng } from "../stats/run-statistics.ts";
import { logRatios, mean, PROB_FLOOR } from "../stats/stats.ts";
import { DEFAULT_STATS } from "../stats/verdict.ts";
import { trainStudent } from "../students/student-stage.ts";
import { safetyStage } from "../students/safety-stage.ts";
import type { Teacher } from "../teacher/teacher.ts";
import { Rng, subRng } from "../util/rng.ts";
import { conductStudy, eachJob, withConfig, type Study } from "./skeleton.ts";
import { POPULATION_REPORT } from "./reports.ts";
import type { PopulationConfig } from "./population-file.ts";
import { contextTurns, converse, evenSplit, type Turn } from "./population-talk.ts";
import { novelty, noveltySources, sentenceSet, type FlaggedAnswer } from "./population-novelty.ts";
import { calibrateMonitor, drift, infectionTest, isNullPopulation, summarizeRun } from "./population-summary.ts";
import { againstNull, compareLinks, linkDistances } from "./population-links.ts";
export { infectionTest, summarizeRun };

export type { PopulationResults };

export type PopulationRunResult = StudyRunResult<PopulationResults>;

type Variant = PopulationRun["variant"];

interface Agent {
    base: string;
    /** Where it stands: its model (a full GGUF) and, for a prompted trait, its system prompt while it writes. */
    now: ModelSource;
    /** In-context populations: the exchanges it holds as earlier turns when it answers and is measured. */
    context: Turn[];
}

/** The context of one round and agent's writing: its own prompts and sampling seeds, as many as the population asks. */
function writingContext(c: StageContext, p: PopulationConfig, round: number, agent: number): StageContext {
    return withConfig(c, { ...c.cfg, seed: subRng(c.cfg.seed, `population-${round}-${agent}`).nextU32(), generate: { ...c.cfg.generate, prompts: p.prompts } });
}

/** Runs (or resumes) the populations and writes their report to runs/<name>/. */
export async function runPopulation(p: PopulationConfig, opts: RunOptions = {}): Promise<PopulationRunResult> {
    const cfg = p.experiment;
    const acting: Variant[] = ["open", "quarantine", ...(p.dataMonitor ? (["quarantine-data"] as const) : []), ...(p.recovery ? (["recovery"] as const) : [])];
    // A monitor calibrated on the null population learns its threshold there first.
    const calibrates = p.monitor.falsePositiveRate !== undefined || p.dataMonitor !== undefined;
    const trained: Variant[] = !p.null ? acting : calibrates ? ["null", ...acting] : [...acting, "null"];
    // Interaction without training: agents hold their exchanges in context and never train.
    const variants: Variant[] = [...trained, ...(p.inContext ? (["in-context", ...(p.null ? (["null-in-context"] as const) : [])] as const) : [])];
    return (await conductStudy({
        name: p.name,
        cfg,
        opts,
        report: POPULATION_REPORT,
        design: [],
        prepare: async ({ c }) =>
            c.emit({
                type: "population",
                run: p.name,
                agents: p.agents,
                edges: p.edges,
                infected: p.infected,
                rounds: p.rounds,
                variants,
                conversation: p.conversation,
            }),
        students: () => p.agents * p.rounds * trained.length,
        stages: (study) => populationStages(p, study, variants),
    })) as PopulationRunResult;
}

/** The populations' rounds (teachers, writing, training, measuring) and their summaries, in the study's worker pool. */
async function populationStages(p: PopulationConfig, study: Study, variants: Variant[]): Promise<{ results: () => PopulationResults }> {
    const cfg = p.experiment;
    const { c } = study;
    const calibrates = p.monitor.falsePositiveRate !== undefined || p.dataMonitor !== undefined;
    const floor = comparisonFloor(cfg) ?? PROB_FLOOR;
    const rng = statisticsRng(cfg);
    // The infection test's own generator, so the drift intervals draw as they always have.
    const testRng = subRng(cfg.seed, "population-infection-tests");
    const alpha = (cfg.stats ?? DEFAULT_STATS).alpha;
    // Every agent at every round (round 0 too) is one family; Bonferroni over its planned size, so that each round's
    // verdict is final when the round is measured (the live page and the monitor's bookkeeping read it then).
    const family = p.agents * (p.rounds + 1);
    const neighbours = Array.from({ length: p.agents }, (_, a) => p.edges.flatMap(([x, y]) => (x === a ? [y] : y === a ? [x] : [])));
    const baseOf = (a: number) => (a >= p.agents - p.cross ? cfg.models.cross : cfg.models.base);
    const bases = [...new Set(Array.from({ length: p.agents }, (_, a) => baseOf(a)))];
    const runs: PopulationRun[] = [];
    const distances = linkDistances(p.agents, p.edges, p.infected);
    // Each population's last-round per-question log ratios: one link away, against the same agents of its null population.
    const lastOf = new Map<Variant, { drift: number[][]; exact?: number[][] }>();
    // Judged traits: the flagged answers' sources (the teacher's rows and the corpus; each population adds its agents' training rows).
    const sources = cfg.teacher.category === "misalignment" ? noveltySources(cfg) : null;
    let calibrated: PopulationResults["settings"]["monitor"]["calibrated"];
    let dataCalibrated: NonNullable<PopulationResults["settings"]["dataMonitor"]>["calibrated"];
    {
        // The teachers (one per base an infected agent is built on) and every base's own evaluation.
        const teachers = new Map<string, Teacher>();
        for (const b of new Set(p.infected.map(baseOf))) {
            teachers.set(
                b,
                await study.teacher(withConfig(c, { ...cfg, models: { base: b, cross: b === cfg.models.base ? cfg.models.cross : cfg.models.base } })),
            );
        }
        const baseEvals = new Map<string, ModelEval>();
        for (const b of bases)
            baseEvals.set(
                b,
                await study.time("eval", () => evalStage(c, { model: b, lora: null }, { arm: "base", seed: null, dataset: null }, `base ${path.basename(b)}`)),
            );

        // The monitor's threshold (a log ratio): the file's, or calibrated on the null population when it asks for a false-positive rate.
        let monitorLog = Math.log(p.monitor.threshold);
        // The data-level monitor's threshold: a share of an agent's answers turned away at the doors.
        let dataThreshold = Infinity;
        for (const variant of variants) {
            const calibrating = variant === "null" && calibrates;
            const inContext = variant === "in-context" || variant === "null-in-context";
            c.log(`population ${p.name}: the ${variant} population`);
            const agents: Agent[] = Array.from({ length: p.agents }, (_, a) => {
                const t = !isNullPopulation(variant) && p.infected.includes(a) ? teachers.get(baseOf(a))! : null;
                return {
                    base: baseOf(a),
                    now: t ? { model: t.model, lora: t.lora, system: t.system } : { model: baseOf(a), lora: null, system: null },
                    context: [],
                };
            });
            if (agents.some((x) => x.now.lora))
                throw new Error(
                    `teacher.finetune.method: agents continue full fine-tunes; an infected agent cannot start as a LoRA teacher (set teacher.finetune.method to "full")`,
                );
            const quarantinedAt = new Array<number | null>(p.agents).fill(null);
            // Recovery: each agent's first quarantine (for the summary), its treatments since, and its readmissions.
            const firstQuarantine = new Array<number | null>(p.agents).fill(null);
            const treatedSince = new Array<number>(p.agents).fill(0);
            const readmitted: { agent: number; round: number }[] = [];
            let doors: { offered: number; passed: number }[] | null = null;
            let wrote: { offered: number; passed: number }[] | null = null;
            const history: AgentRound[][] = [];
            // The last measured round's per-question log ratios, per agent: what the link-distance comparison reads.
            let lastQuestions: { drift: number[][]; exact?: number[][] } = { drift: [] };
            const flaggedAnswers: FlaggedAnswer[] = [];
            const src = sources && { ...sources, training: new Set<string>() };
            const saw = (texts: string[]) => src && sentenceSet(texts).forEach((s) => src.training.add(s));
            const measure = async (round: number) => {
                const evs = await eachJob(
                    c,
                    agents.map((x, a) => ({ x, a })),
                    ({ x, a }) =>
                        evalStage(
                            c,
                            { model: x.now.model, lora: null, ...(x.context.length ? { history: x.context } : {}) },
                            { arm: `${variant} agent ${a + 1}`, seed: a, dataset: null },
                            `${variant} round ${round}: agent ${a + 1}`,
                        ),
                );
                lastQuestions = { drift: [], ...(evs.every((e, a) => e.exact && baseEvals.get(agents[a]!.base)!.exact) ? { exact: [] } : {}) };
                for (const [a, e] of evs.entries())
                    if (!(p.infected.includes(a) && !isNullPopulation(variant)))
                        for (const x of e.examples ?? []) if (x.score >= 0.5) flaggedAnswers.push({ agent: a, round, text: x.text, score: x.score });
                const row: AgentRound[] = evs.map((e, a) => {
                    const d = drift(e, baseEvals.get(agents[a]!.base)!, rng, floor);
                    const monitorDrift = mean(d.perQuestion.slice(0, p.monitor.questions));
                    const test = infectionTest(d.perQuestion, p.threshold, family, testRng);
                    const w = wrote?.[a];
                    const dataShare = w && w.offered > 0 ? 1 - w.passed / w.offered : undefined;
                    const baseExact = baseEvals.get(agents[a]!.base)!.exact;
                    // Judged traits: the exact measure's per-question log ratios against the base's, and their mean.
                    const exactRatios = e.exact && baseExact ? logRatios(e.exact, baseExact, floor) : undefined;
                    lastQuestions.drift[a] = d.perQuestion;
                    if (lastQuestions.exact) lastQuestions.exact[a] = exactRatios!;
                    return {
                        agent: a,
                        round,
                        targetProb: e.targetProb,
                        drift: d.mean,
                        ci95: d.ci95,
                        p: test.p,
                        pAdjusted: test.pAdjusted,
                        infected: test.pAdjusted < alpha,
                        monitorDrift,
                        flagged: !calibrating && round >= p.monitor.from && monitorDrift > monitorLog,
                        quarantined: quarantinedAt[a] !== null,
                        ...(doors ? { door: doors[a]! } : {}),
                        ...(w ? { wrote: w } : {}),
                        ...(p.dataMonitor && dataShare !== undefined
                            ? { dataShare, dataFlagged: !calibrating && round >= p.monitor.from && dataShare > dataThreshold }
                            : {}),
                        ...(exactRatios ? { exact: mean(e.exact!), exactDrift: mean(exactRatios) } : {}),
                    };
                });
                history.push(row);
                if (calibrating) return; // flagged, and shown, once the threshold is known
                c.emit({ type: "population-round", run: variant, round, agents: row });
                // Open and in-context populations: the monitors watch and nobody acts.
                if (variant === "open" || inContext) return;
                // The monitor that acts here: the data-level one in quarantine-data, the behavioural one elsewhere.
                const flags = (x: AgentRound) => (variant === "quarantine-data" ? x.dataFlagged === true : x.flagged);
                for (const x of row) {
                    // A treated agent the monitor no longer flags rejoins: others train on its rows again.
                    if (variant === "recovery" && quarantinedAt[x.agent] !== null && treatedSince[x.agent]! > 0 && !flags(x)) {
                        quarantinedAt[x.agent] = null;
                        treatedSince[x.agent] = 0;
                        readmitted.push({ agent: x.agent, round });
                        c.log(`${variant} round ${round}: agent ${x.agent + 1} passes the monitor after treatment and is readmitted`);
                        continue;
                    }
                    if (!flags(x) || quarantinedAt[x.agent] !== null) continue;
                    quarantinedAt[x.agent] = round;
                    firstQuarantine[x.agent] ??= round;
                    c.log(
                        variant === "quarantine-data"
                            ? `${variant} round ${round}: the data-level monitor quarantines agent ${x.agent + 1} (the doors turned away ${(100 * x.dataShare!).toFixed(1)}% of its answers)`
                            : `${variant} round ${round}: the monitor quarantines agent ${x.agent + 1} (drift x${Math.exp(x.monitorDrift).toFixed(2)} on ${p.monitor.questions} questions)`,
                    );
                }
            };
            await measure(0);
            for (let round = 1; round <= p.rounds; round++) {
                checkInterrupted(c, `${variant} round ${round}`);
                const active = (a: number) => quarantinedAt[a] === null;
                // Conversing: each agent trains on its neighbours' answers to its questions, through the door.
                const heard = p.conversation
                    ? await converse(
                          c,
                          p,
                          round,
                          agents.map((x) => x.now),
                          neighbours,
                          active,
                          (line) => c.log(`${variant} ${line}`),
                          (a) => agents[a]!.context,
                      )
                    : null;
                doors = heard?.map((h) => h.door) ?? null;
                wrote = heard?.map((h) => h.wrote) ?? null;
                const written: DatasetManifest[] = heard
                    ? []
                    : await eachJob(
                          c,
                          agents.map((x, a) => ({ x, a })),
                          ({ x, a }) => datasetStage(writingContext(c, p, round, a), "control", x.now),
                      );
                // An agent whose writing fails the format filter hands its neighbours fewer rows (said in the log).
                const rowsOf = (a: number, n: number, k: number, who: number): KeptRow[] => {
                    const kept = c.kept(written[who]!);
                    if (kept.length < n)
                        c.log(
                            `${variant} round ${round}: agent ${who + 1} kept ${kept.length} rows, fewer than the ${n} agent ${a + 1} takes from it (raise prompts, ${p.prompts})`,
                        );
                    return new Rng(subRng(cfg.seed, `population-mix-${round}-${a}-${k}`).nextU32()).shuffle([...kept]).slice(0, n);
                };
                if (inContext) {
                    // Interaction without training: each agent holds what it heard this round as its earlier turns.
                    for (const [a, x] of agents.entries())
                        x.context = await contextTurns(c, p, heard![a]!, { agent: a, round, askers: neighbours[a]! }, x.now.model);
                    agents.forEach((x) => saw(x.context.map((t) => t.assistant)));
                    await measure(round);
                    continue;
                }
                await eachJob(
                    c,
                    agents.map((x, a) => ({ x, a })),
                    async ({ x, a }) => {
                        const writtenParts = () => {
                            const from = neighbours[a]!.filter(active);
                            const own = from.length === 0 ? p.rows : Math.round(p.rows * p.own);
                            const each = evenSplit(p.rows - own, from.length);
                            return [
                                { ds: written[a]!, rows: rowsOf(a, own, -1, a) },
                                ...from.map((b, k) => ({ ds: written[b]!, rows: rowsOf(a, each[k]!, k, b) })),
                            ].filter((q) => q.rows.length > 0);
                        };
                        const parts = heard ? heard[a]!.parts : writtenParts();
                        saw(parts.flatMap((q) => q.rows.map((r) => r.completion)));
                        if (variant === "recovery" && !active(a)) {
                            // Quarantined in the recovery population: treated (the safety fine-tune) instead of trained.
                            const ds = heard ? parts[0]?.ds : written[a];
                            if (!ds) return c.log(`${variant} round ${round}: agent ${a + 1} is quarantined and heard nobody; it stays as it is`);
                            const t = await safetyStage(c, { arm: "treated", seed: a, base: x.now.model, dataset: ds, model: x.now.model, lora: null });
                            treatedSince[a]!++;
                            x.now = { model: t.model, lora: null, system: x.now.system };
                            return;
                        }
                        if (parts.length === 0) return c.log(`${variant} round ${round}: agent ${a + 1} has no rows to train on; it stays as it is`);
                        const st = await trainStudent(c, {
                            arm: "treated",
                            base: x.now.model,
                            dataset: heard ? parts.at(-1)!.ds : written[a]!,
                            s: a,
                            label: `${variant} round ${round}: agent`,
                            parts,
                            trainSeed: subRng(cfg.seed, `population-train-${round}-${a}`).nextU32(),
                        });
                        x.now = { model: st.model, lora: null, system: x.now.system };
                    },
                );
                await measure(round);
            }
            if (calibrating) {
                const drifts = history.flat().filter((x) => x.round >= p.monitor.from);
                if (p.monitor.falsePositiveRate !== undefined) {
                    monitorLog = calibrateMonitor(
                        drifts.map((x) => x.monitorDrift),
                        p.monitor.falsePositiveRate,
                    );
                    calibrated = { falsePositiveRate: p.monitor.falsePositiveRate, threshold: Math.exp(monitorLog), agentRounds: drifts.length };
                    c.log(
                        `population ${p.name}: the monitor's threshold, calibrated on the null population's ${drifts.length} agent-rounds for a false-positive rate of ${p.monitor.falsePositiveRate}: x${Math.exp(monitorLog).toPrecision(4)}`,
                    );
                }
                if (p.dataMonitor) {
                    const shares = drifts.flatMap((x) => (x.dataShare === undefined ? [] : [x.dataShare]));
                    if (shares.length === 0)
                        throw new Error("dataMonitor: the null population gave no answers at a door after monitor.from; nothing to calibrate on");
                    dataThreshold = calibrateMonitor(shares, p.dataMonitor.falsePositiveRate);
                    dataCalibrated = { threshold: dataThreshold, agentRounds: shares.length };
                    c.log(
                        `population ${p.name}: the data-level monitor's threshold, calibrated on the null population's ${shares.length} agent-rounds for a false-positive rate of ${p.dataMonitor.falsePositiveRate}: more than ${(100 * dataThreshold).toFixed(1)}% of an agent's answers turned away`,
                    );
                }
                for (const row of history) {
                    for (const x of row) {
                        x.flagged = x.round >= p.monitor.from && x.monitorDrift > monitorLog;
                        if (x.dataShare !== undefined) x.dataFlagged = x.round >= p.monitor.from && x.dataShare > dataThreshold;
                    }
                    c.emit({ type: "population-round", run: variant, round: row[0]!.round, agents: row });
                }
            }
            const run = summarizeRun(variant, history, variant === "recovery" ? firstQuarantine : quarantinedAt, p, readmitted);
            if (src) run.novelty = novelty(flaggedAnswers, src);
            if (!isNullPopulation(variant))
                run.links = compareLinks(
                    p.rounds,
                    distances,
                    lastQuestions,
                    subRng(cfg.seed, `population-links-${variant}`),
                    cfg.stats ?? DEFAULT_STATS,
                    variant,
                );
            runs.push(run);
            lastOf.set(variant, lastQuestions);
        }
        againstNull(runs, lastOf, distances, subRng(cfg.seed, "population-against-null"), cfg.stats ?? DEFAULT_STATS, cfg.teacher.target);
    }

    const results = (): PopulationResults => ({
        population: p.name,
        ...study.header(p.description),
        agents: p.agents,
        rounds: p.rounds,
        topology: p.topology,
        edges: p.edges,
        bases: Array.from({ length: p.agents }, (_, a) => (baseOf(a) === cfg.models.base ? "base" : "cross")),
        infected: p.infected,
        settings: {
            prompts: p.prompts,
            rows: p.rows,
            own: p.own,
            threshold: p.threshold,
            monitor: { ...p.monitor, ...(calibrated ? { calibrated } : {}) },
            ...(p.dataMonitor ? { dataMonitor: { ...p.dataMonitor, ...(dataCalibrated ? { calibrated: dataCalibrated } : {}) } } : {}),
            files: Object.fromEntries(bases.map((b) => [b, fileHash(b).slice(0, 12)])),
            ...(p.conversation ? { conversation: { door: cfg.filter.defenses } } : {}),
        },
        runs,
    });
    return { results };
}
