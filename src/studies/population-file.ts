/**
 * A population file (`sublab population FILE`): its fields checked, naming the bad one, and its topology's edges.
 *
 * A population file (experiments/population-owl.json):
 *   name, description, experiment, overrides   as a sweep file's (src/studies/sweep.ts); student.method must be "full"
 *   agents        2..64: 8
 *   rounds        1..50: 6
 *   topology      "ring" | "all" | "random" | a JSON file of edges [[a, b], ...] (relative to the population file): "ring"
 *   degree        random topology: each agent's links to others drawn at random until every agent has at least this many: 2
 *   cross         >= 0: 0, the last `cross` agents are built on models.cross
 *   infected      distinct agent indices that start as the teacher: [0]
 *   prompts       >= 1: prompts each agent writes per round: 150
 *   rows          >= 1: rows each agent trains on per round: 120
 *   own           [0, 1]: share of those rows from its own writing (the rest split evenly among active neighbours): 0.5
 *   threshold     > 1: the infection threshold, a ratio of P(target) over the base's: 1.25
 *   monitor       { questions 1..eval.questions: 10, threshold > 1: 1.25 or falsePositiveRate (0, 1) (the threshold
 *                 calibrated on the null population, run first, to flag at most that share of its agent-rounds),
 *                 from >= 0: 1 (the first round it probes:
 *                 at 1, the infected agents have written and trained once before anyone looks) }
 *   null          true | false: true (run the null population)
 *   recovery      true | false: false; true adds the recovery population: quarantined agents are treated (the
 *                 experiment's safety fine-tune) instead of trained, and rejoin once the monitor no longer flags them
 *   conversation  true | false: false; true: each round every agent asks its active neighbours questions and
 *                 trains only on their answers, through the door of the experiment's filter.defenses
 *                 (studies/population-talk.ts); `own` does not apply
 *   dataMonitor   { falsePositiveRate (0, 1) }: absent; conversing populations with a door: the data-level monitor flags an
 *                 agent when its neighbours' doors turn away more of its answers than a threshold calibrated on the null
 *                 population (at most that share of its agent-rounds above it), and adds the quarantine-data population,
 *                 where it quarantines (the behavioural monitor still watches, as the data-level one does everywhere)
 *   inContext     true | false: false; conversing populations: adds interaction without training, the in-context population
 *                 (and the null one in context): nobody trains; each agent holds the first `contextTurns` (1..16: 2, as many
 *                 as fit its context) exchanges it heard last round as earlier turns when it answers and is measured
 */
import fs from "node:fs";
import path from "node:path";
import type { ExperimentConfig } from "../core/types.ts";
import { readJsonFile } from "../util/files.ts";
import { Rng, subRng } from "../util/rng.ts";
import { absentOr, bool, check, int, list, object, opt, req, str, throwErrors, join } from "./checks.ts";
import { experimentOf, isJsonObject } from "./sweep.ts";

export interface PopulationConfig {
    name: string;
    description: string;
    experimentFile: string;
    experiment: ExperimentConfig;
    agents: number;
    rounds: number;
    topology: string;
    /** Undirected links, each once (a < b). */
    edges: [number, number][];
    degree: number;
    cross: number;
    infected: number[];
    prompts: number;
    rows: number;
    own: number;
    threshold: number;
    /** falsePositiveRate: the threshold is calibrated on the null population to flag at most this share of its agent-rounds. */
    monitor: { questions: number; threshold: number; from: number; falsePositiveRate?: number };
    null: boolean;
    /** Agents ask their neighbours questions and train on the answers, through the door (studies/population-talk.ts). */
    conversation: boolean;
    /** The recovery population: quarantined agents treated with the safety fine-tune and readmitted when they pass the monitor. */
    recovery: boolean;
    /** The data-level monitor (conversing populations): flags an agent when the doors turn away more of its answers than the null population's agents, at this false-positive rate; adds the quarantine-data population. */
    dataMonitor?: { falsePositiveRate: number };
    /** Interaction without training: the in-context populations (and a null one), whose agents hold their latest exchanges in context and never train. */
    inContext: boolean;
    /** Exchanges an in-context agent holds (as many as fit its context). */
    contextTurns: number;
}

const ratio = check<number>("a ratio above 1", (v) => typeof v === "number" && Number.isFinite(v) && v > 1);

const share = check<number>("a number from 0 to 1", (v) => typeof v === "number" && v >= 0 && v <= 1);

const populationFile = object(
    {
        name: req(str("lowercase letters, digits and dashes", (s) => /^[a-z0-9][a-z0-9-]*$/.test(s))),
        description: opt(str(), ""),
        experiment: req(str("the path of an experiment file", (s) => s !== "")),
        overrides: opt(check<Record<string, unknown>>("an object", isJsonObject), {}),
        agents: opt(int(2, 64), 8),
        rounds: opt(int(1, 50), 6),
        topology: opt(
            str('"ring", "all", "random" or the path of a JSON file of edges', (s) => s !== ""),
            "ring",
        ),
        degree: opt(int(1), 2),
        cross: opt(int(0), 0),
        infected: opt(list(int(0), { distinct: true }), [0]),
        prompts: opt(int(1), 150),
        rows: opt(int(1), 120),
        own: opt(share, 0.5),
        threshold: opt(ratio, 1.25),
        monitor: opt(
            object({
                questions: opt(int(1), 10),
                threshold: opt(ratio, 1.25),
                from: opt(int(0), 1),
                falsePositiveRate: opt(absentOr(check<number>("a share above 0 and below 1", (v) => typeof v === "number" && v > 0 && v < 1)), undefined),
            }),
            {},
        ),
        null: opt(bool, true),
        conversation: opt(bool, false),
        recovery: opt(bool, false),
        inContext: opt(bool, false),
        contextTurns: opt(int(1, 16), 2),
        dataMonitor: opt(
            absentOr(
                object({
                    falsePositiveRate: req(check<number>("a share above 0 and below 1", (v) => typeof v === "number" && v > 0 && v < 1)),
                }),
            ),
            undefined,
        ),
    },
    (o, p, errors) => {
        const n = o.agents ?? 8;
        o.infected?.forEach((a, i) => a >= n && errors.push(`${join(p, `infected[${i}]`)}: expected an agent index below agents (${n}), got ${a}`));
        if (o.cross !== undefined && o.cross > n) errors.push(`cross: expected at most agents (${n}), got ${o.cross}`);
        if (o.topology === "random" && o.degree !== undefined && o.degree >= n) errors.push(`degree: expected below agents (${n}), got ${o.degree}`);
    },
);

/** The links of a topology (each once, a < b). */
export function topologyEdges(topology: string, n: number, degree: number, seed: number, file?: string): [number, number][] {
    const set = new Set<string>();
    const add = (a: number, b: number) => a !== b && set.add(a < b ? `${a},${b}` : `${b},${a}`);
    if (topology === "ring") for (let a = 0; a < n; a++) add(a, (a + 1) % n);
    else if (topology === "all") for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) add(a, b);
    else if (topology === "random") {
        const rng = new Rng(subRng(seed, "topology").nextU32());
        const deg = new Array<number>(n).fill(0);
        for (let a = 0; a < n; a++) {
            while (deg[a]! < degree) {
                const b = rng.int(n);
                const key = a < b ? `${a},${b}` : `${b},${a}`;
                if (b === a || set.has(key)) continue;
                add(a, b);
                deg[a]!++;
                deg[b]!++;
            }
        }
    } else {
        const where = file ?? topology;
        if (!fs.existsSync(where)) throw new Error(`topology: expected "ring", "all", "random" or an edges file; no such file ${where}`);
        const edges = readJsonFile(where);
        if (!Array.isArray(edges)) throw new Error(`${where}: expected a JSON array of edges [[a, b], ...]`);
        edges.forEach((e, i) => {
            if (!Array.isArray(e) || e.length !== 2 || !e.every((x) => Number.isInteger(x) && x >= 0 && x < n) || e[0] === e[1]) {
                throw new Error(`${where}: edge [${i}]: expected two different agent indices below ${n}, got ${JSON.stringify(e)}`);
            }
            add(e[0], e[1]);
        });
    }
    return [...set].map((k) => k.split(",").map(Number) as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/** Checks a parsed population file (every problem at once, each naming its JSON path) and loads its experiment. */
export function parsePopulation(json: unknown, file: string): PopulationConfig {
    const errors: string[] = [];
    const o = populationFile.parse(json, "", errors);
    const experiment = experimentOf(json, file, errors);
    if (experiment && experiment.student.method !== "full")
        errors.push(
            `student.method: agents continue their own training round after round, which needs full fine-tunes; set student.method to "full" (got "${experiment.student.method}")`,
        );
    if (o?.recovery && experiment && !experiment.safety)
        errors.push(
            `recovery: the treatment is the experiment's safety fine-tune; add a safety section to the experiment or its overrides (e.g. "safety": {})`,
        );
    if (experiment?.student.mix !== undefined)
        errors.push("student.mix: a dose is for run, sweep and study; an agent trains on what its neighbours wrote, not the teacher's data");
    if (o?.conversation && isJsonObject(json) && json.own !== undefined)
        errors.push(`own: a conversing agent trains on its neighbours' answers to its questions only; leave own out with conversation: true`);
    if (o?.inContext && !o.conversation)
        errors.push(`inContext: the in-context population holds the exchanges of a conversation in context; it needs conversation: true`);
    if (o?.dataMonitor && !o.conversation)
        errors.push(`dataMonitor: the data-level monitor reads what an agent's answers did at its neighbours' doors; it needs conversation: true`);
    if (o?.dataMonitor && experiment && experiment.filter.defenses.length === 0)
        errors.push(`dataMonitor: the door is empty (filter.defenses); give the experiment a defense (e.g. "judge") for the data-level monitor to read`);
    if (o?.dataMonitor && o.null === false) errors.push(`dataMonitor: its threshold is calibrated on the null population; set null to true`);
    const m = isJsonObject(json) && isJsonObject(json.monitor) ? json.monitor : null;
    if (m?.falsePositiveRate !== undefined && m.threshold !== undefined)
        errors.push(`monitor: give threshold or falsePositiveRate (a threshold calibrated on the null population), not both`);
    if (m?.falsePositiveRate !== undefined && o?.null === false)
        errors.push(`monitor.falsePositiveRate: the threshold is calibrated on the null population; set null to true`);
    if (experiment && o?.monitor && o.monitor.questions > experiment.eval.questions)
        errors.push(`monitor.questions: expected at most eval.questions (${experiment.eval.questions}), got ${o.monitor.questions}`);
    throwErrors(errors, file, "the population", false);
    const p = o!;
    const edgesFile = ["ring", "all", "random"].includes(p.topology) ? undefined : path.resolve(path.dirname(file), p.topology);
    const edges = topologyEdges(p.topology, p.agents, p.degree, experiment!.seed, edgesFile);
    return { ...p, experimentFile: p.experiment, experiment: experiment!, edges, monitor: p.monitor as PopulationConfig["monitor"] };
}

export const loadPopulation = (file: string): PopulationConfig => parsePopulation(readJsonFile(file), file);
