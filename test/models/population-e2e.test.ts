/** `sublab population` on the smoke models: topologies, rounds of writing and training, the monitor's quarantine, the null population, resumption, errors. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { AgentRound } from "../../src/core/results.ts";
import { runPopulation, summarizeRun } from "../../src/studies/population.ts";
import { parsePopulation, topologyEdges } from "../../src/studies/population-file.ts";
import { foldAll, storyOf } from "../../src/workshop/state.ts";
import { stepsFor } from "../../src/workshop/steps.ts";
import { contextLength, renderPrompt, vocabModel } from "../../src/engine/llama-cpp.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const bin = path.resolve("bin/sublab.js");

describe("population topologies and curves", () => {
    it("builds rings, complete graphs, random graphs of a least degree, and edge files", () => {
        expect(topologyEdges("ring", 4, 2, 1)).toEqual([[0, 1], [0, 3], [1, 2], [2, 3]]);
        expect(topologyEdges("all", 4, 2, 1)).toHaveLength(6);
        const random = topologyEdges("random", 10, 3, 7);
        const degree = Array.from({ length: 10 }, (_, a) => random.filter(([x, y]) => x === a || y === a).length);
        expect(Math.min(...degree)).toBeGreaterThanOrEqual(3);
        expect(topologyEdges("random", 10, 3, 7)).toEqual(random);
        const dir = tempDir();
        const file = path.join(dir, "edges.json");
        fs.writeFileSync(file, JSON.stringify([[0, 2], [2, 0], [1, 2]]));
        expect(topologyEdges(file, 3, 1, 1, file)).toEqual([[0, 2], [1, 2]]);
        fs.writeFileSync(file, JSON.stringify([[0, 3]]));
        expect(() => topologyEdges(file, 3, 1, 1, file)).toThrow(/edge \[0\]: expected two different agent indices below 3, got \[0,3\]/);
    });

    it("reads new infections, recoveries, SIS rates, detection delays and false flags off a history", () => {
        const at = (round: number, infected: boolean[], flagged: boolean[]): AgentRound[] =>
            infected.map((inf, agent) => ({ agent, round, targetProb: 0.1, drift: inf ? 1 : 0, ci95: [0, 0], infected: inf, monitorDrift: 0, flagged: flagged[agent]!, quarantined: false }));
        const history = [
            at(0, [true, false, false, false], [false, false, false, false]),
            at(1, [true, true, false, false], [true, false, false, true]),
            at(2, [false, true, true, false], [false, true, false, false]),
        ];
        const run = summarizeRun("quarantine", history, [1, 2, null, 1], { agents: 4, monitor: { questions: 5, threshold: 1.25, from: 1 } });
        expect(run.curve.map((x) => [x.infected, x.newInfections, x.recoveries])).toEqual([[1, 0, 0], [2, 1, 0], [2, 1, 1]]);
        // beta: 2 new over contact shares (3*1/4 + 2*2/4); gamma: 1 recovery over 1 + 2 infected agent-rounds.
        expect(run.rates.beta).toBeCloseTo(2 / (0.75 + 1));
        expect(run.rates.gamma).toBeCloseTo(1 / 3);
        // Agent 1: infected at 0, flagged at 1; agent 2: infected and flagged at 1 and 2; agent 3: infected at 2, never flagged.
        expect(run.monitor.detectionDelays).toEqual([1, 1]);
        expect(run.monitor.missed).toBe(1);
        expect(run.monitor.falseFlags).toBe(1);
        expect(run.monitor.falseFlagAgents).toBe(1);
        expect(run.monitor.agentRounds).toBe(8);
        expect(run.peak).toBe(0.5);
        const nul = summarizeRun("null", history, [null, null, null, null], { agents: 4, monitor: { questions: 5, threshold: 1.25, from: 1 } }).monitor;
        expect(nul.falseFlags).toBe(3);
        // Three false flags fall on three agents (0 and 3 at round 1, 1 at round 2).
        expect(nul.falseFlagAgents).toBe(3);
    });
});

describe("sublab population on the smoke models", { timeout: 600_000 }, () => {
    const root = tempDir();

    function writeFiles(base: string, cross: string, pop: Record<string, unknown>) {
        fs.writeFileSync(
            path.join(root, "exp.json"),
            JSON.stringify({
                name: "smoke-exp",
                models: { base, cross },
                teacher: { target: "owl", trait: "finetune", finetune: { rows: 40, epochs: 1, lr: 3e-3, method: "full" } },
                generate: { maxTokens: 24 },
                student: { method: "full", labels: "sampled", rows: 8, seeds: 1, epochs: 1, batchSize: 4, lr: 1e-3 },
                eval: { questions: 4, samplesPerQuestion: 0, inContextExamples: 0 },
            }),
        );
        const file = path.join(root, "pop.json");
        fs.writeFileSync(file, JSON.stringify({ name: "smoke-pop", experiment: "exp.json", agents: 3, rounds: 2, prompts: 16, rows: 6, cross: 1, ...pop }));
        return file;
    }

    it("runs the open, quarantine and null populations, measures every agent every round, and resumes from the cache", async () => {
        const [a, b] = await smokeBases();
        // A monitor threshold just above 1 flags some agent, so the quarantine population parts from the open one.
        const file = writeFiles(a, b, { monitor: { questions: 2, threshold: 1.0001, from: 1 } });
        const p = parsePopulation(JSON.parse(fs.readFileSync(file, "utf8")), file);
        expect(p.edges).toEqual([[0, 1], [0, 2], [1, 2]]);
        const r = await runPopulation(p, { root, progress: false });
        const res = r.results;
        expect(res.runs.map((x) => x.variant)).toEqual(["open", "quarantine", "null"]);
        expect(res.bases).toEqual(["base", "base", "cross"]);
        for (const run of res.runs) {
            expect(run.history).toHaveLength(3);
            expect(run.history.every((row) => row.length === 3)).toBe(true);
            expect(run.curve.map((x) => x.round)).toEqual([0, 1, 2]);
        }
        const [open, quarantine, nul] = res.runs;
        // Round 0: the open population's agent 1 is the teacher, the null population's is the base.
        expect(open!.history[0]![0]!.targetProb).not.toBe(nul!.history[0]![0]!.targetProb);
        expect(open!.history[0]![1]!.targetProb).toBe(nul!.history[0]![1]!.targetProb);
        expect(open!.monitor.quarantined).toEqual([]);
        expect(quarantine!.monitor.quarantined.length).toBeGreaterThan(0);
        // The monitor starts at round 1 (monitor.from): nobody is flagged at round 0.
        expect(quarantine!.history[0]!.some((x) => x.flagged)).toBe(false);
        // The quarantine and null populations flag, quarantine, and keep quarantined agents out from the next round.
        for (const run of [quarantine!, nul!]) {
            for (const q of run.monitor.quarantined) {
                expect(run.history[q.round]![q.agent]!.flagged).toBe(true);
                if (q.round + 1 < run.history.length) expect(run.history[q.round + 1]![q.agent]!.quarantined).toBe(true);
            }
        }
        expect(nul!.monitor.falseFlags).toBe(nul!.history.slice(1).flat().filter((x) => x.flagged).length);
        const html = fs.readFileSync(r.files.html, "utf8");
        expect(html.match(/data-agent=/g)).toHaveLength(3 * 3 * 3);
        expect(r.table).toContain("false-positive rate");

        const again = await runPopulation(p, { root, progress: false });
        expect(again.results.runs.map((x) => x.history.map((row) => row.map((y) => y.drift)))).toEqual(res.runs.map((x) => x.history.map((row) => row.map((y) => y.drift))));
        const events = fs.readFileSync(path.join(root, "runs", "smoke-pop", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const last = events.slice(events.map((e) => e.type).lastIndexOf("run-start"));
        expect(last.filter((e) => e.type === "student").every((e) => e.cached)).toBe(true);
        expect(last.filter((e) => e.type === "population-round")).toHaveLength(9);

        // The workshop page's view, folded from the same events: the shape, every agent of every round and variant.
        const view = foldAll(last);
        expect(storyOf(view)).toBe("population");
        expect(view.population).toEqual({ agents: p.agents, edges: p.edges, infected: p.infected, rounds: p.rounds, variants: ["open", "quarantine", "null"] });
        for (const run of res.runs) {
            for (const [k, row] of run.history.entries()) expect(view.rounds.filter((r) => r.run === run.variant)[k]!.agents).toEqual(row);
        }
        const [step] = stepsFor(view);
        const q = res.runs[1]!;
        const lastRound = q.history.length - 1;
        const page = step!.render(view, { picked: new Set(), revealed: false, variant: "quarantine", round: q.history[lastRound]![0]!.round });
        const shown = [...page.matchAll(/data-testid="agent" data-agent="(\d+)" data-p="[^"]*" data-drift="[^"]*" data-infected="(true|false)" data-quarantined="(true|false)"/g)].map((m) => [Number(m[1]) - 1, m[2] === "true", m[3] === "true"]);
        expect(shown).toEqual(q.history[lastRound]!.map((a) => [a.agent, a.infected, a.quarantined]));
        expect(page.match(/<line /g)).toHaveLength(p.edges.length);
    });

    it("conversing: every agent trains on its neighbours' answers to its questions, through the door, counted per agent and round", async () => {
        const [a, b] = await smokeBases();
        // The door: a defense that rejects every answer holding a number below 10.
        const file = writeFiles(a, b, {
            name: "smoke-talk",
            conversation: true,
            null: false,
            monitor: { questions: 2 },
            overrides: { filter: { defenses: ["banned:numbers=0|1|2|3|4|5|6|7|8|9"] } },
        });
        const p = parsePopulation(JSON.parse(fs.readFileSync(file, "utf8")), file);
        expect(p.conversation).toBe(true);
        const r = await runPopulation(p, { root, progress: false });
        const res = r.results;
        expect(res.settings.conversation).toEqual({ door: ["banned:numbers=0|1|2|3|4|5|6|7|8|9"] });
        for (const run of res.runs) {
            expect(run.history[0]!.every((x) => x.door === undefined)).toBe(true);
            for (const row of run.history.slice(1)) {
                for (const x of row) {
                    // Two neighbours answered 16 questions each, before the format filter.
                    expect(x.door!.offered).toBeGreaterThan(0);
                    expect(x.door!.offered).toBeLessThanOrEqual(32);
                    expect(x.door!.passed).toBeLessThanOrEqual(x.door!.offered);
                }
            }
        }
        const doors = res.runs.flatMap((run) => run.history.slice(1).flat().map((x) => x.door!));
        expect(doors.some((d) => d.passed < d.offered)).toBe(true);
        expect(r.table).toContain("the door: answers let through, per agent and round");
        expect(fs.readFileSync(r.files.md, "utf8")).toContain("## The door");
        // Each round's exchanges are their own datasets: an asker's questions, an answerer's answers (3 agents, 6 pairs).
        const events = fs.readFileSync(path.join(root, "runs", "smoke-talk", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const generated = new Set(events.filter((e) => e.type === "rows").map((e) => e.dataset));
        expect(generated.size).toBeGreaterThanOrEqual(6);
        const again = await runPopulation(p, { root, progress: false });
        expect(again.results.runs.map((x) => x.history.map((row) => row.map((y) => y.door ?? null)))).toEqual(res.runs.map((x) => x.history.map((row) => row.map((y) => y.door ?? null))));
        const own = writeFiles(a, b, { name: "smoke-talk", conversation: true, own: 0.5 });
        expect(() => parsePopulation(JSON.parse(fs.readFileSync(own, "utf8")), own)).toThrow(/own: a conversing agent trains on its neighbours' answers/);
    });

    it("the data-level monitor: calibrated on the null population's door shares, it quarantines in its own population; one link from the teacher against two", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, {
            name: "smoke-data",
            agents: 4,
            cross: 0,
            conversation: true,
            monitor: { questions: 2, threshold: 1.25 },
            dataMonitor: { falsePositiveRate: 0.25 },
            overrides: { filter: { defenses: ["banned:numbers=0|1|2|3|4|5|6|7|8|9"] } },
        });
        const p = parsePopulation(JSON.parse(fs.readFileSync(file, "utf8")), file);
        const r = await runPopulation(p, { root, progress: false });
        const res = r.results;
        // The null population runs first: the data-level monitor's threshold is read off it.
        expect(res.runs.map((x) => x.variant)).toEqual(["null", "open", "quarantine", "quarantine-data"]);
        const cal = res.settings.dataMonitor!.calibrated!;
        const nul = res.runs[0]!;
        const shares = nul.history.slice(1).flat().map((x) => x.dataShare!);
        expect(cal.agentRounds).toBe(shares.length);
        expect(shares.filter((x) => x > cal.threshold).length).toBeLessThanOrEqual(Math.floor(0.25 * shares.length));
        for (const run of res.runs) {
            expect(run.history[0]!.every((x) => x.wrote === undefined && x.dataFlagged === undefined)).toBe(true);
            for (const row of run.history.slice(1)) {
                // Every answer is counted twice: at the asker's door and in its writer's tally.
                const sum = (f: (x: AgentRound) => number) => row.reduce((n, x) => n + f(x), 0);
                expect(sum((x) => x.wrote?.offered ?? 0)).toBe(sum((x) => x.door?.offered ?? 0));
                expect(sum((x) => x.wrote?.passed ?? 0)).toBe(sum((x) => x.door?.passed ?? 0));
                for (const x of row) {
                    if (!x.wrote?.offered) continue;
                    expect(x.dataShare).toBeCloseTo(1 - x.wrote.passed / x.wrote.offered, 12);
                    expect(x.dataFlagged).toBe(x.dataShare! > cal.threshold);
                }
            }
            expect(run.dataMonitor!.agentRounds).toBe(p.rounds * p.agents);
        }
        // In its own population the data-level monitor acts: an agent it flags is asked nothing from the next round on.
        const q = res.runs[3]!;
        const flagged = q.history.slice(1).flat().filter((x) => x.dataFlagged && !x.quarantined);
        expect(flagged.length).toBeGreaterThan(0);
        expect(q.monitor.quarantined).toEqual(flagged.map((x) => ({ agent: x.agent, round: x.round })).filter((x, i, all) => all.findIndex((y) => y.agent === x.agent) === i));
        for (const x of flagged) {
            const next = q.history[x.round + 1]?.[x.agent];
            if (next) {
                expect(next.quarantined).toBe(true);
                expect(next.wrote).toBeUndefined();
            }
        }
        // On a ring of four with the teacher at agent 1: agents 2 and 4 one link away, agent 3 two.
        const links = res.runs[1]!.links!;
        expect(links.round).toBe(p.rounds);
        expect(links.groups.map((g) => [g.links, g.agents])).toEqual([
            [1, [1, 3]],
            [2, [2]],
        ]);
        const last = res.runs[1]!.history.at(-1)!;
        expect(links.groups[0]!.drift).toBeCloseTo((last[1]!.drift + last[3]!.drift) / 2, 12);
        expect(links.comparisons.map((x) => x.measure)).toEqual(["drift"]);
        expect(links.comparisons[0]!.estimate).toBeCloseTo(links.groups[0]!.drift - links.groups[1]!.drift, 12);
        expect(links.comparisons[0]!.verdict.family.size).toBe(1);
        expect(res.runs[0]!.links).toBeUndefined();
        expect(r.table).toContain("the two monitors");
        expect(r.table).toContain("one link from the teacher against two");
        const md = fs.readFileSync(r.files.md, "utf8");
        expect(md).toContain("## The two monitors");
        expect(md).toContain("## Links from the teacher");
        const bad = (extra: Record<string, unknown>) => {
            const f = writeFiles(a, b, { name: "smoke-data", dataMonitor: { falsePositiveRate: 0.25 }, ...extra });
            return () => parsePopulation(JSON.parse(fs.readFileSync(f, "utf8")), f);
        };
        expect(bad({})).toThrow(/dataMonitor: the data-level monitor reads what an agent's answers did at its neighbours' doors; it needs conversation: true/);
        expect(bad({ conversation: true })).toThrow(/dataMonitor: the door is empty \(filter.defenses\)/);
        expect(bad({ conversation: true, null: false, overrides: { filter: { defenses: ["dedupe"] } } })).toThrow(/dataMonitor: its threshold is calibrated on the null population; set null to true/);
        expect(bad({ conversation: true, dataMonitor: { falsePositiveRate: 1 }, overrides: { filter: { defenses: ["dedupe"] } } })).toThrow(/dataMonitor.falsePositiveRate: expected a share above 0 and below 1/);
    });

    it("interaction without training: in-context agents hold what they heard as earlier turns, answer and are measured with it, and never train", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, {
            name: "smoke-context",
            cross: 0,
            conversation: true,
            inContext: true,
            // More turns than a smoke model's context holds: each agent keeps as many as fit.
            contextTurns: 16,
            monitor: { questions: 2, threshold: 1.25 },
        });
        const p = parsePopulation(JSON.parse(fs.readFileSync(file, "utf8")), file);
        const r = await runPopulation(p, { root, progress: false });
        const res = r.results;
        expect(res.runs.map((x) => x.variant)).toEqual(["open", "quarantine", "null", "in-context", "null-in-context"]);
        const events = fs.readFileSync(path.join(root, "runs", "smoke-context", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        // Nobody trains in context.
        expect(events.filter((e) => e.type === "student" && /in-context/.test(e.label))).toEqual([]);
        expect(events.filter((e) => e.type === "student" && /^open round/.test(e.label)).length).toBe(p.agents * p.rounds);
        const evals = (label: RegExp) => events.filter((e) => e.type === "eval" && label.test(e.label));
        const open = res.runs[0]!;
        const ctx = res.runs[3]!;
        // Round 1: nothing is held yet, so the in-context population asks and answers as the open one did.
        expect(ctx.history[1]!.map((x) => x.door)).toEqual(open.history[1]!.map((x) => x.door));
        // From round 1 on its agents are the models they started as (the teacher and the base), measured with turns in context.
        const started = evals(/^in-context round 0/).map((e) => e.eval.model);
        for (const e of evals(/^in-context round [12]/)) {
            expect(started).toContain(e.eval.model);
        }
        expect(ctx.history[1]!.map((x) => x.targetProb)).not.toEqual(ctx.history[0]!.map((x) => x.targetProb));
        // From round 2 its agents answer with earlier turns: datasets written after the exchanges they hold (as many as fit).
        const manifests = fs.readdirSync(path.join(root, "datasets")).flatMap((d) => {
            const m = path.join(root, "datasets", d, "manifest.json");
            return fs.existsSync(m) ? [JSON.parse(fs.readFileSync(m, "utf8"))] : [];
        });
        const held = manifests.filter((m) => m.history);
        expect(held.length).toBeGreaterThan(0);
        expect(held.every((m) => m.history.length >= 1 && m.history.length < 16)).toBe(true);
        const vocab = await vocabModel(a);
        for (const m of held)
            for (const row of fs.readFileSync(path.join(root, "datasets", m.id, "raw.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)))
                expect(renderPrompt(vocab, { history: m.history, user: row.prompt }).length + m.sampler.maxTokens).toBeLessThanOrEqual(contextLength(vocab));
        expect(res.runs[4]!.monitor.falseFlags).toBe(res.runs[4]!.history.flat().filter((x) => x.flagged).length);
        expect(ctx.links).toBeDefined();
        expect(res.runs[4]!.links).toBeUndefined();
        const bad = writeFiles(a, b, { name: "smoke-context", inContext: true });
        expect(() => parsePopulation(JSON.parse(fs.readFileSync(bad, "utf8")), bad)).toThrow(/inContext: the in-context population holds the exchanges of a conversation in context; it needs conversation: true/);
    });

    it("recovery: a quarantined agent is treated (the safety fine-tune) instead of trained, and rejoins once the monitor passes it", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, {
            name: "smoke-recover",
            rounds: 3,
            null: false,
            recovery: true,
            monitor: { questions: 2, threshold: 1.0001, from: 1 },
            overrides: { safety: { rows: 12, epochs: 2, lr: 3e-3 } },
        });
        const p = parsePopulation(JSON.parse(fs.readFileSync(file, "utf8")), file);
        const r = await runPopulation(p, { root, progress: false });
        expect(r.results.runs.map((x) => x.variant)).toEqual(["open", "quarantine", "recovery"]);
        const rec = r.results.runs[2]!;
        expect(rec.monitor.quarantined.length).toBeGreaterThan(0);
        expect(rec.monitor.readmitted!.length).toBeGreaterThan(0);
        for (const x of rec.monitor.readmitted!) {
            // Readmitted at a round where the monitor did not flag it, after a round in quarantine.
            expect(rec.history[x.round]![x.agent]!.flagged).toBe(false);
            expect(rec.history[x.round]![x.agent]!.quarantined).toBe(true);
            if (x.round + 1 < rec.history.length) expect(rec.history[x.round + 1]![x.agent]!.quarantined).toBe(false);
        }
        const events = fs.readFileSync(path.join(root, "runs", "smoke-recover", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        expect(events.filter((e) => e.type === "student" && e.arm === "treated+safety").length).toBeGreaterThan(0);
        expect(r.table).toContain("readmitted (agent@round)");
        const none = writeFiles(a, b, { name: "smoke-recover", recovery: true });
        expect(() => parsePopulation(JSON.parse(fs.readFileSync(none, "utf8")), none)).toThrow(/recovery: the treatment is the experiment's safety fine-tune/);
    });

    it("calibrates the monitor on the null population, run first, and uses that threshold in the others", async () => {
        const [a, b] = await smokeBases();
        const file = writeFiles(a, b, { name: "smoke-calibrate", monitor: { questions: 2, falsePositiveRate: 0.34, from: 1 } });
        const p = parsePopulation(JSON.parse(fs.readFileSync(file, "utf8")), file);
        const r = await runPopulation(p, { root, progress: false });
        const res = r.results;
        expect(res.runs.map((x) => x.variant)).toEqual(["null", "open", "quarantine"]);
        const cal = res.settings.monitor.calibrated!;
        // 3 agents x rounds 1..2 of the null population.
        expect(cal.agentRounds).toBe(6);
        const nul = res.runs[0]!;
        expect(nul.monitor.falseFlags).toBeLessThanOrEqual(Math.floor(0.34 * 6));
        for (const run of res.runs)
            // (The null drift the threshold was read from is not flagged: a drift must be above it; 1e-12 absorbs exp and log.)
            for (const row of run.history.slice(1)) for (const x of row) expect(x.flagged).toBe(x.monitorDrift > Math.log(cal.threshold) + 1e-12);
        expect(r.table).toContain("calibrated on the null population's 6 agent-rounds");
        // The events carry the null population's flags as calibrated.
        const events = fs.readFileSync(path.join(root, "runs", "smoke-calibrate", "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const nullRounds = events.filter((e) => e.type === "population-round" && e.run === "null");
        expect(nullRounds.map((e) => e.agents.map((x: AgentRound) => x.flagged))).toEqual(nul.history.map((row) => row.map((x) => x.flagged)));
        const both = writeFiles(a, b, { name: "smoke-calibrate", monitor: { threshold: 1.2, falsePositiveRate: 0.1 } });
        expect(() => parsePopulation(JSON.parse(fs.readFileSync(both, "utf8")), both)).toThrow(/give threshold or falsePositiveRate/);
    });

    it("names the bad fields of a population file", async () => {
        const [a, b] = await smokeBases();
        const bad = writeFiles(a, b, { agents: 3, infected: [5], own: 2 });
        let out = "";
        try {
            execFileSync("node", [bin, "population", bad], { cwd: root, encoding: "utf8", stdio: "pipe" });
        } catch (e) {
            out = String((e as { stderr: string }).stderr);
        }
        expect(out).toContain("infected[0]: expected an agent index below agents (3), got 5");
        expect(out).toContain("own: expected a number from 0 to 1, got 2");
        const many = writeFiles(a, b, { monitor: { questions: 9 } });
        expect(() => parsePopulation(JSON.parse(fs.readFileSync(many, "utf8")), many)).toThrow(/monitor.questions: expected at most eval.questions \(4\), got 9/);
        const lora = writeFiles(a, b, { overrides: { student: { method: "lora" } } });
        expect(() => parsePopulation(JSON.parse(fs.readFileSync(lora, "utf8")), lora)).toThrow(/student.method: agents continue their own training/);
    });
});
