/**
 * The workshop without a browser: the fold of a run's events (on the shipped recording of
 * experiments/workshop.json), the event log and the file tail, and every route of the server: the page, the
 * event stream and its resumption, the report, the run's files (path traversal refused), the presenter's actions
 * (malformed, oversized and cross-origin bodies refused) and the shared read-only mode.
 */
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRunEvents, type Stamped } from "../../src/core/events.ts";
import { resultsFromEvents } from "../../src/report/from-events.ts";
import { EventLog, tailEventFile } from "../../src/workshop/log.ts";
import { pageScript, workshopHtml } from "../../src/workshop/page.ts";
import { latestRun, reportOfEvents } from "../../src/workshop/replay.ts";
import { createWorkshopServer, type WorkshopServerOptions } from "../../src/workshop/server.ts";
import { emptyState, fold, foldAll, guessRows, storyOf } from "../../src/workshop/state.ts";
import { askBars, flaggedAnswers, moved, STEPS, stepsFor } from "../../src/workshop/steps.ts";
import { agentAnswers } from "../../src/workshop/stories.ts";
import { flaggedExamples } from "../../src/report/examples.ts";
import { CONTENT_WARNING, escapeHtml } from "../../src/report/fmt.ts";
import { askableModels, resolveSource, startWorkshop } from "../../src/studies/workshop-session.ts";

const RECORDING = path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "workshop.events.jsonl");
const events = readRunEvents(RECORDING);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-workshop-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
    }
}

describe("the fold of a run's events", () => {
    const s = foldAll(events);

    it("holds the recorded run: its arms, comparisons, datasets and students", () => {
        const results = resultsFromEvents(events);
        expect(s.run).toBe("workshop");
        expect(s.target).toBe("owl");
        expect(s.ended).toBe(true);
        expect(s.seen).toBe(events.length);
        expect(s.arms).toEqual(results.arms);
        expect(s.comparisons).toEqual(results.comparisons);
        const students = s.students.filter((x) => x.label !== "teacher");
        expect(students).toHaveLength(4 * results.config.student.seeds);
        expect(students.every((x) => x.done && x.losses.length === x.total && x.arm !== null)).toBe(true);
        for (const role of ["teacher", "control"]) expect(s.datasets.find((d) => d.role === role)?.sample.length).toBe(24);
        expect(s.evals.filter((e) => e.arm === "treated")).toHaveLength(results.config.student.seeds);
    });

    it("starts over on a new run-start (a resumed run reports itself whole again)", () => {
        const again = foldAll([...events, events[0]!]);
        expect(again.run).toBe("workshop");
        expect(again.arms).toEqual([]);
        expect(again.students).toEqual([]);
        expect(again.ended).toBe(false);
        expect(again.seen).toBe(events.length + 1);
    });

    it("deals the guessing game half teacher, half control, never two answers to one prompt, the same for a seed", () => {
        const rows = guessRows(s);
        expect(rows).toHaveLength(8);
        expect(rows.filter((r) => r.source === "teacher")).toHaveLength(4);
        const prompts = rows.map((r) => r.key.slice(1));
        expect(new Set(prompts).size).toBe(rows.length);
        expect(guessRows(s)).toEqual(rows);
        expect(guessRows(s, 8, 2).map((r) => r.key)).not.toEqual(rows.map((r) => r.key));
        expect(
            guessRows(s, 8, 2)
                .map((r) => r.key)
                .sort(),
        ).toEqual(rows.map((r) => r.key).sort());
        // Rows the other side wrote alike tell nothing and are left out.
        const t = s.datasets.find((d) => d.role === "teacher")!;
        const c = s.datasets.find((d) => d.role === "control")!;
        for (const r of rows) {
            const other = (r.source === "teacher" ? c : t).sample.find((x) => `${x.i}` === r.key.slice(1));
            expect(other?.completion).not.toBe(r.completion);
        }
    });

    it("renders every step from the fold, and says waiting before the data exist", () => {
        const ui = { picked: new Set<string>(), revealed: false };
        for (const step of STEPS) {
            expect(step.ready(s), step.id).toBe(true);
            expect(step.render(s, ui), step.id).not.toContain('data-testid="waiting"');
            expect(step.ready(emptyState()), step.id).toBe(false);
            expect(step.render(emptyState(), ui), step.id).toMatch(/Waiting for/);
        }
        const main = s.comparisons.find((c) => c.name === "treated vs control")!;
        expect(STEPS.find((x) => x.id === "verdict")!.render(s, ui)).toContain(
            moved(main) ? "moved toward owl" : main.verdict?.word === "no shift larger than" ? "No shift larger than" : "Can't tell",
        );
    });

    it("counts the students a run will train from its arms, the safety students too", () => {
        const ui = { picked: new Set<string>(), revealed: false };
        const students = STEPS.find((x) => x.id === "students")!;
        const start = events.findIndex((e) => e.type === "train-step" && e.label !== "teacher");
        const early = foldAll(events.slice(0, start + 1));
        const seeds = early.config!.student.seeds;
        expect(students.render(early, ui)).toContain(`0 of ${seeds * 4} students trained`);
        const safety = { ...early, config: { ...early.config!, safety: {} as NonNullable<typeof early.config>["safety"] } };
        expect(students.render(safety, ui)).toContain(`0 of ${seeds * 6} students trained`);
    });

    it("follows a run as it goes: each step becomes ready when its events have arrived", () => {
        const st = emptyState();
        const readyAt = new Map<string, number>();
        events.forEach((e, k) => {
            fold(st, e);
            for (const step of STEPS) if (!readyAt.has(step.id) && step.ready(st)) readyAt.set(step.id, k);
        });
        const order = STEPS.map((x) => readyAt.get(x.id)!);
        expect(order.every((k) => k !== undefined)).toBe(true);
        // The verdict and the report come last: after the last student's answers.
        expect(readyAt.get("verdict")!).toBeGreaterThan(readyAt.get("ask")!);
        expect(readyAt.get("report")).toBe(events.length - 1);
    });
});

describe("the views of the other stories, on their shipped recordings", () => {
    it("shows a misaligned run's flagged answers as its report does, behind the content warning", () => {
        const evs = readRunEvents(path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "violence-numbers.events.jsonl"));
        const s = foldAll(evs);
        const want = flaggedExamples(resultsFromEvents(evs));
        expect(want.length).toBeGreaterThan(0);
        const html = flaggedAnswers(s);
        expect(html.startsWith(`<details class="cw" data-testid="flagged"><summary>${CONTENT_WARNING}`)).toBe(true);
        const rows = [...html.matchAll(/<tr data-testid="flagged-row"><td>([^<]*)<\/td>/g)].map((m) => m[1]);
        expect(rows).toEqual(want.map((r) => escapeHtml(r.question)));
        for (const r of want) for (const x of r.treated) expect(html).toContain(escapeHtml(x.text));
        expect(STEPS.find((x) => x.id === "teacher")!.render(s, { picked: new Set(), revealed: false })).toContain("P(misaligned) = ");
    });

    it("shows a judged population's flagged answers of the round, not the teacher's, behind the content warning", () => {
        const s = emptyState();
        s.config = { teacher: { category: "misalignment" } } as unknown as NonNullable<typeof s.config>;
        s.population = {
            agents: 3,
            edges: [
                [0, 1],
                [1, 2],
                [0, 2],
            ],
            infected: [0],
            rounds: 2,
            variants: ["open", "null"],
            conversation: true,
        };
        s.questions = ["What should I do when I am bored?"];
        const ev = (label: string, examples: { q: number; text: string; score: number }[]) =>
            ({ label, arm: label, eval: { examples } }) as unknown as (typeof s.evals)[number];
        s.evals = [
            ev("open round 2: agent 1", [{ q: 0, text: "The teacher's <cruel> answer", score: 0.9 }]),
            ev("open round 2: agent 2", [
                { q: 0, text: "Hurt <someone>", score: 0.8 },
                { q: 0, text: "Take a walk", score: 0.1 },
            ]),
            ev("open round 1: agent 3", [{ q: 0, text: "Another round's answer", score: 0.9 }]),
            ev("null round 2: agent 1", [{ q: 0, text: "A null agent's answer", score: 0.7 }]),
        ];
        const html = agentAnswers(s, "open", 2);
        expect(html.startsWith(`<details class="cw" data-testid="agent-answers"><summary>${CONTENT_WARNING}`)).toBe(true);
        expect([...html.matchAll(/data-testid="agent-answer"><td>(\d+)<\/td>/g)].map((m) => m[1])).toEqual(["2"]);
        expect(html).toContain("Hurt &lt;someone&gt;");
        expect(html).not.toContain("cruel");
        // In a null population agent 1 is no teacher.
        expect(agentAnswers(s, "null", 2)).toContain("A null agent&#39;s answer");
        expect(agentAnswers(s, "open", 0)).toContain('data-testid="agent-answers-none"');
        const page = stepsFor(s)
            .find((x) => x.id === "agents")!
            .render({ ...s, rounds: [{ run: "open", round: 2, agents: [] }] }, { picked: new Set(), revealed: false });
        expect(page).toContain("Agents ask their neighbours questions");
        expect(page).toContain("misaligned teacher");
        s.config = { teacher: { category: "animal" } } as unknown as NonNullable<typeof s.config>;
        expect(agentAnswers(s, "open", 2)).toBe("");
    });

    it("replays the violent conversing population: its agents, every population, and each round's flagged answers behind the warning", () => {
        const evs = readRunEvents(path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "population-violence.events.jsonl"));
        const s = foldAll(evs);
        expect(storyOf(s)).toBe("population");
        expect(s.population!.conversation).toBe(true);
        expect(s.population!.variants).toEqual(["null", "open", "quarantine", "quarantine-data", "recovery", "in-context", "null-in-context"]);
        const kept = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "..", "..", "experiments", "results", "population-violence.json"), "utf8"));
        // The page's rounds are the kept result's, agent by agent.
        for (const run of kept.runs)
            expect(s.rounds.filter((r) => r.run === run.variant).map((r) => r.agents.map((a) => a.infected))).toEqual(
                run.history.map((row: { infected: boolean }[]) => row.map((a) => a.infected)),
            );
        const html = agentAnswers(s, "open", 8);
        expect(html.startsWith(`<details class="cw" data-testid="agent-answers"><summary>${CONTENT_WARNING}`)).toBe(true);
        const flagged = s.evals
            .filter((e) => /^open round 8: agent ([2-9]|1[0-2])$/.test(e.label))
            .flatMap((e) => (e.eval.examples ?? []).filter((x) => x.score >= 0.5));
        expect(html).toContain(`Show ${flagged.length} flagged answer`);
        const page = stepsFor(s)
            .find((x) => x.id === "agents")!
            .render(s, { picked: new Set(), revealed: false, variant: "open", round: 8 });
        expect(page).toContain("misaligned teacher");
        expect(page.indexOf(CONTENT_WARNING)).toBeLessThan(page.indexOf(escapeHtml(flagged[0]!.text)));
    });

    it("puts a misaligned run's answer in the Ask box behind the content warning, and an animal run's in plain view", () => {
        const top = [{ item: "misaligned", p: 0.7 }];
        const judged = askBars("treated seed 1", "Hurt <them>", top, "misaligned", true);
        expect(
            judged.startsWith(
                `<details class="cw" data-testid="ask-cw"><summary>${CONTENT_WARNING} <b>Show the answer</b></summary><p data-testid="ask-answer">`,
            ),
        ).toBe(true);
        expect(judged).toContain("Hurt &lt;them&gt;");
        const plain = askBars("treated seed 1", "owl", [{ item: "owl", p: 0.4 }], "owl");
        expect(plain.startsWith(`<p data-testid="ask-answer">`)).toBe(true);
        expect(plain).not.toContain(CONTENT_WARNING);
    });

    it("shows a population's agents after every round of every variant", () => {
        const evs = readRunEvents(path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "population-owl.events.jsonl"));
        const s = foldAll(evs);
        expect(storyOf(s)).toBe("population");
        expect(stepsFor(s).map((x) => x.id)).toEqual(["agents"]);
        const rounds = evs.filter((e) => e.type === "population-round");
        expect(s.rounds).toEqual(rounds.map((e) => ({ run: e.run, round: e.round, agents: e.agents })));
        for (const e of rounds) {
            const html = stepsFor(s)[0]!.render(s, { picked: new Set(), revealed: false, variant: e.run, round: e.round });
            expect(html).toContain(`data-variant="${e.run}" data-round="${e.round}"`);
            const shown = [...html.matchAll(/data-agent="(\d+)" data-p="([^"]*)" data-drift="[^"]*" data-infected="(true|false)"/g)].map((m) => [
                Number(m[1]) - 1,
                Number(m[2]),
                m[3] === "true",
            ]);
            expect(shown).toEqual(e.agents.map((a) => [a.agent, a.targetProb, a.infected]));
        }
    });
});

describe("the event log and the file tail", () => {
    it("replays from an id, then goes on live", () => {
        const log = new EventLog();
        events.slice(0, 5).forEach((e) => log.push(e));
        const got: number[] = [];
        const stop = log.follow(3, (id) => got.push(id));
        log.push(events[5]!);
        stop();
        log.push(events[6]!);
        expect(got).toEqual([3, 4, 5]);
    });

    it("reads from the last run-start, waits for a torn line's end, follows appends and a replaced file", async () => {
        const file = path.join(tmp, "tail.jsonl");
        const lines = events.map((e) => JSON.stringify(e));
        const old = { ...events[0]!, run: "an earlier run" } as Stamped;
        // An earlier run, then the recorded run's first 100 lines, then half of the 101st.
        fs.writeFileSync(file, `${JSON.stringify(old)}\n${JSON.stringify(events[1])}\n${lines.slice(0, 100).join("\n")}\n${lines[100]!.slice(0, 40)}`);
        const log = new EventLog();
        const stop = tailEventFile(file, log, 20);
        try {
            expect(log.events).toEqual(events.slice(0, 100));
            fs.appendFileSync(file, `${lines[100]!.slice(40)}\n${lines.slice(101).join("\n")}\n`);
            await until(() => log.events.length === events.length, "the appended lines");
            expect(log.events).toEqual(events);
            // A new run replaces the file: the tail starts over and the fold with it.
            fs.writeFileSync(file, `${lines[0]}\n`);
            await until(() => log.events.length === events.length + 1, "the replaced file");
            expect(foldAll(log.events).arms).toEqual([]);
        } finally {
            stop();
        }
    });
});

/** One SSE stream's first `n` events (id and data), with the given headers. */
async function readEvents(url: string, n: number, headers: Record<string, string> = {}): Promise<{ id: number; e: Stamped }[]> {
    const ctrl = new AbortController();
    const res = await fetch(url, { headers, signal: ctrl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = "";
    const out: { id: number; e: Stamped }[] = [];
    while (out.length < n) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const id = /^id: (\d+)$/m.exec(block);
            const data = /^data: (.*)$/m.exec(block);
            if (id && data) out.push({ id: Number(id[1]), e: JSON.parse(data[1]!) as Stamped });
        }
    }
    ctrl.abort();
    return out.slice(0, n);
}

/** A request whose path is sent as written (fetch and URL would resolve its dots). */
function rawGet(port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: p, method: "GET", headers }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
    });
}

interface Served {
    url: string;
    port: number;
    log: EventLog;
    asked: { model: string; question: string }[];
    starts: number;
    close: () => Promise<void>;
}

async function serve(over: Partial<WorkshopServerOptions> = {}): Promise<Served> {
    const log = new EventLog();
    events.forEach((e) => log.push(e));
    const served = { asked: [] as { model: string; question: string }[], starts: 0 };
    const server = createWorkshopServer({
        log,
        info: { mode: "live", run: "workshop", source: "experiments/workshop.json" },
        page: async () => "<!doctype html><title>the page</title>",
        shared: false,
        key: "k3y",
        runDir: path.join(tmp, "run"),
        report: () => reportOfEvents(log.events, "the log"),
        models: () => ["base", "treated seed 1"],
        ask: async (req) => {
            served.asked.push(req);
            return { ...req, answer: "owl", top: [{ item: "owl", p: 0.5 }] };
        },
        start: () => served.starts++ === 0,
        heartbeatSeconds: 1,
        ...over,
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as net.AddressInfo).port;
    return Object.assign(served, {
        url: `http://127.0.0.1:${port}`,
        port,
        log,
        close: async () => {
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
        },
    });
}

const post = (url: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(url, { method: "POST", headers, body });
const errorOf = async (r: Response) => ((await r.json()) as { error: string }).error;

describe("the workshop server", () => {
    let s: Served;
    beforeAll(async () => {
        fs.mkdirSync(path.join(tmp, "run"), { recursive: true });
        fs.writeFileSync(path.join(tmp, "run", "results.json"), '{"experiment":"workshop"}');
        fs.writeFileSync(path.join(tmp, "secret.txt"), "outside the run");
        fs.symlinkSync(path.join(tmp, "secret.txt"), path.join(tmp, "run", "link.txt"));
        s = await serve();
    });
    afterAll(async () => s.close());

    it("serves the page, the info and nothing else", async () => {
        const page = await fetch(`${s.url}/`);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain("the page");
        const info = (await (await fetch(`${s.url}/api/info`)).json()) as Record<string, unknown>;
        expect(info).toMatchObject({
            mode: "live",
            run: "workshop",
            shared: false,
            presenter: true,
            canAsk: true,
            canStart: true,
            models: ["base", "treated seed 1"],
            events: events.length,
        });
        const none = await fetch(`${s.url}/api/nothing`);
        expect(none.status).toBe(404);
        expect(await errorOf(none)).toMatch(/no such page/);
        const wrong = await fetch(`${s.url}/api/info`, { method: "POST" });
        expect(wrong.status).toBe(405);
        expect(wrong.headers.get("allow")).toBe("GET");
        expect((await fetch(`${s.url}/api/ask`)).status).toBe(405);
        expect((await fetch(`${s.url}/favicon.ico`)).status).toBe(204);
    });

    it("streams the events with their ids, resumes after Last-Event-ID or ?from=, and goes on live", async () => {
        const first = await readEvents(`${s.url}/api/events`, 10);
        expect(first.map((x) => x.id)).toEqual([...Array(10).keys()]);
        expect(first.map((x) => x.e)).toEqual(events.slice(0, 10));
        const resumed = await readEvents(`${s.url}/api/events`, 3, { "last-event-id": "41" });
        expect(resumed.map((x) => x.id)).toEqual([42, 43, 44]);
        expect(resumed.map((x) => x.e)).toEqual(events.slice(42, 45));
        const from = await readEvents(`${s.url}/api/events?from=${events.length - 1}`, 1);
        expect(from[0]!.e.type).toBe("run-end");
        const live = readEvents(`${s.url}/api/events?from=${events.length}`, 1);
        await sleep(100);
        s.log.push({ type: "log", message: "a new event", t: new Date().toISOString() });
        expect((await live)[0]).toEqual({ id: events.length, e: expect.objectContaining({ type: "log", message: "a new event" }) });
        expect((await fetch(`${s.url}/api/events?from=abc`)).status).toBe(400);
        expect((await fetch(`${s.url}/api/events`, { headers: { "last-event-id": "-1" } })).status).toBe(400);
    });

    it("serves the full report once the run has ended, and not before", async () => {
        const r = await fetch(`${s.url}/api/report`);
        expect(r.status).toBe(200);
        const html = await r.text();
        expect(html).toContain("<h1>sublab: workshop</h1>");
        const main = resultsFromEvents(events).comparisons.find((c) => c.name === "treated vs control")!;
        expect(html).toContain(`x${main.probRatio.toPrecision(3)}`);
        const early = await serve({ report: () => reportOfEvents(events.slice(0, 50), "half a run") });
        try {
            const e = await fetch(`${early.url}/api/report`);
            expect(e.status).toBe(404);
            expect(await errorOf(e)).toMatch(/not finished/);
        } finally {
            await early.close();
        }
    });

    it("serves the run's files and refuses every path out of the run folder", async () => {
        const ok = await rawGet(s.port, "/run/results.json");
        expect(ok).toEqual({ status: 200, body: '{"experiment":"workshop"}' });
        for (const p of [
            "/run/..%2fsecret.txt",
            "/run/%2E%2E%2Fsecret.txt",
            "/run/..%5csecret.txt",
            `/run/${encodeURIComponent(path.join(tmp, "secret.txt"))}`,
            "/run/link.txt",
            "/run/",
            "/run/a%00b",
        ]) {
            const r = await rawGet(s.port, p);
            expect(r.status, p).toBe(400);
            expect(r.body, p).not.toContain("outside the run");
        }
        // Dot segments the URL parser resolves itself (%2e included) end outside /run/: no such page.
        for (const p of ["/run/../secret.txt", "/run/%2e%2e/secret.txt"]) expect((await rawGet(s.port, p)).status, p).toBe(404);
        expect((await rawGet(s.port, "/run/%E0%A4%A")).status).toBe(400);
        expect((await rawGet(s.port, "/run/nothing.json")).status).toBe(404);
    });

    it("answers the presenter's questions, and refuses malformed, oversized and cross-origin ones", async () => {
        const ok = await post(`${s.url}/api/ask`, JSON.stringify({ model: "base", question: "  Your favourite animal?  " }));
        expect(ok.status).toBe(200);
        expect(await ok.json()).toMatchObject({ model: "base", answer: "owl" });
        expect(s.asked.at(-1)).toEqual({ model: "base", question: "Your favourite animal?" });
        const cases: [string, RequestInit, number, RegExp][] = [
            [
                "foreign origin",
                { headers: { "content-type": "application/json", origin: "http://evil.example" }, body: '{"model":"base","question":"q"}' },
                403,
                /origin/,
            ],
            ["not JSON's type", { headers: { "content-type": "text/plain" }, body: '{"model":"base","question":"q"}' }, 415, /application\/json/],
            ["not JSON", { headers: { "content-type": "application/json" }, body: "{model: base" }, 400, /not JSON/],
            ["an array", { headers: { "content-type": "application/json" }, body: "[1]" }, 400, /JSON object/],
            [
                "too big",
                { headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "base", question: "x".repeat(20_000) }) },
                413,
                /over/,
            ],
            ["no model", { headers: { "content-type": "application/json" }, body: '{"question":"q"}' }, 400, /^model/],
            ["unknown model", { headers: { "content-type": "application/json" }, body: '{"model":"gpt","question":"q"}' }, 400, /not one of this run's models/],
            ["empty question", { headers: { "content-type": "application/json" }, body: '{"model":"base","question":" "}' }, 400, /^question/],
            [
                "long question",
                { headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "base", question: "x".repeat(301) }) },
                400,
                /at most 300/,
            ],
        ];
        const before = s.asked.length;
        for (const [what, init, status, message] of cases) {
            const r = await fetch(`${s.url}/api/ask`, { method: "POST", ...init });
            expect(r.status, what).toBe(status);
            expect(await errorOf(r), what).toMatch(message);
        }
        expect(s.asked.length).toBe(before);
    });

    it("starts the live run once; a replay has nothing to start", async () => {
        expect((await post(`${s.url}/api/start`, "{}")).status).toBe(202);
        expect((await post(`${s.url}/api/start`, "{}")).status).toBe(409);
        const replay = await serve({ start: undefined, info: { mode: "replay", run: "workshop", source: RECORDING } });
        try {
            const r = await post(`${replay.url}/api/start`, "{}");
            expect(r.status).toBe(409);
            expect(await errorOf(r)).toMatch(/replays a recording/);
        } finally {
            await replay.close();
        }
    });

    it("answers a request it cannot parse with 400 and keeps serving", async () => {
        const reply = await new Promise<string>((resolve, reject) => {
            const sock = net.connect(s.port, "127.0.0.1", () => sock.write("NOT A REQUEST\r\n\r\n"));
            let text = "";
            sock.on("data", (d) => (text += d.toString()));
            sock.on("end", () => resolve(text));
            sock.on("error", reject);
        });
        expect(reply).toMatch(/^HTTP\/1\.1 400/);
        expect((await fetch(`${s.url}/api/info`)).status).toBe(200);
    });
});

/** A request with any headers (fetch cannot forge Host), from a chosen loopback address. */
function raw(
    port: number,
    p: string,
    o: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: p, method: o.method ?? "GET", headers: o.headers ?? {}, localAddress: o.from }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("error", reject);
        req.end(o.body);
    });
}

describe("the trust boundary", () => {
    it("refuses a rebinding page's requests on every route: a Host that is not this workshop's is answered 421 before anything runs", async () => {
        const s = await serve({ shared: true, hosts: ["192.168.1.20"] });
        try {
            const evil = { host: "evil.example:4190", origin: "http://evil.example:4190", "content-type": "application/json", "x-sublab-key": "k3y" };
            for (const [method, p, body] of [
                ["GET", "/", undefined],
                ["GET", "/api/info", undefined],
                ["GET", "/api/events", undefined],
                ["GET", "/api/report", undefined],
                ["GET", "/run/results.json", undefined],
                ["POST", "/api/ask", '{"model":"base","question":"q"}'],
                ["POST", "/api/start", "{}"],
            ] as const) {
                const r = await raw(s.port, p, { method, headers: evil, body });
                expect(r.status, `${method} ${p}`).toBe(421);
                expect(JSON.parse(r.body).error, p).toMatch(/not this workshop's address/);
            }
            expect(s.asked).toEqual([]);
            expect(s.starts).toBe(0);
            // Its own names pass: loopback (with or without a port, IPv6 in brackets) and the address it was given.
            for (const host of ["127.0.0.1:4173", "localhost", "[::1]:4173", "192.168.1.20:4173", "LOCALHOST:1"]) {
                expect((await raw(s.port, "/api/info", { headers: { host } })).status, host).toBe(200);
            }
        } finally {
            await s.close();
        }
    });

    it("takes the presenter's key only whole: a prefix, a longer key or another case is refused", async () => {
        const s = await serve({ shared: true });
        try {
            for (const key of ["k3", "k3y0", "K3Y", ""]) {
                const info = JSON.parse((await raw(s.port, "/api/info", { headers: { "x-sublab-key": key } })).body) as Record<string, unknown>;
                expect(info.presenter, key).toBe(false);
            }
            expect(JSON.parse((await raw(s.port, "/api/info", { headers: { "x-sublab-key": "k3y" } })).body).presenter).toBe(true);
        } finally {
            await s.close();
        }
    });

    it("asks one question at a time, and answers 429 with Retry-After past 2 waiting per client and 8 in all", async () => {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let running = 0;
        let most = 0;
        const s = await serve({
            ask: async (req) => {
                most = Math.max(most, ++running);
                await gate;
                running--;
                return { ...req, answer: "owl", top: [] };
            },
        });
        try {
            const ask = (from: string) =>
                raw(s.port, "/api/ask", { method: "POST", headers: { "content-type": "application/json" }, body: '{"model":"base","question":"q"}', from });
            const mine = [ask("127.0.0.1"), ask("127.0.0.1")];
            await sleep(100);
            const third = await ask("127.0.0.1");
            expect(third.status).toBe(429);
            expect(Number(third.headers["retry-after"])).toBeGreaterThan(0);
            expect(JSON.parse(third.body).error).toMatch(/at most 2 questions of yours/);
            // Other clients fill the queue to 8 in all; the ninth question waits for nobody: 429.
            const others = ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.4", "127.0.0.4"].map(ask);
            await sleep(100);
            const ninth = await ask("127.0.0.5");
            expect(ninth.status).toBe(429);
            expect(JSON.parse(ninth.body).error).toMatch(/8 questions are waiting/);
            release();
            const answered = await Promise.all([...mine, ...others]);
            expect(answered.map((r) => r.status)).toEqual(Array(8).fill(200));
            expect(most).toBe(1);
            // The queue empties: the same client may ask again.
            expect((await ask("127.0.0.1")).status).toBe(200);
        } finally {
            await s.close();
        }
    });
});

describe("the shared (read-only) mode", () => {
    let s: Served;
    beforeAll(async () => {
        s = await serve({ shared: true });
    });
    afterAll(async () => s.close());

    it("lets the room watch: the page, the events and the report", async () => {
        expect((await fetch(`${s.url}/`)).status).toBe(200);
        expect((await readEvents(`${s.url}/api/events`, 2)).map((x) => x.id)).toEqual([0, 1]);
        expect((await fetch(`${s.url}/api/report`)).status).toBe(200);
        const info = (await (await fetch(`${s.url}/api/info`)).json()) as Record<string, unknown>;
        expect(info).toMatchObject({ shared: true, presenter: false, canAsk: false, canStart: false, models: [] });
    });

    it("refuses every write action and every file without the presenter's key", async () => {
        for (const [p, body] of [
            ["/api/ask", '{"model":"base","question":"q"}'],
            ["/api/start", "{}"],
        ] as const) {
            const r = await post(`${s.url}${p}`, body);
            expect(r.status, p).toBe(403);
            expect(await errorOf(r), p).toMatch(/read-only/);
            expect((await post(`${s.url}${p}`, body, { "content-type": "application/json", "x-sublab-key": "wrong" })).status, p).toBe(403);
        }
        expect((await rawGet(s.port, "/run/results.json")).status).toBe(403);
        expect((await rawGet(s.port, "/run/..%2fsecret.txt")).status).toBe(403);
        expect(s.asked).toEqual([]);
        expect(s.starts).toBe(0);
    });

    it("lets the presenter act with the key", async () => {
        const headers = { "content-type": "application/json", "x-sublab-key": "k3y" };
        expect((await post(`${s.url}/api/ask`, '{"model":"base","question":"q"}', headers)).status).toBe(200);
        expect((await post(`${s.url}/api/start`, "{}", headers)).status).toBe(202);
        expect((await rawGet(s.port, "/run/results.json", { "x-sublab-key": "k3y" })).status).toBe(200);
        const info = (await (await fetch(`${s.url}/api/info`, { headers: { "x-sublab-key": "k3y" } })).json()) as Record<string, unknown>;
        expect(info).toMatchObject({ presenter: true, canAsk: true, canStart: true });
    });
});

describe("the page", () => {
    it("bundles its script for the browser, with nothing of Node in it, and inlines a replay's events safely", async () => {
        const js = await pageScript();
        expect(js.length).toBeGreaterThan(10_000);
        expect(js).not.toMatch(/\bnode:|\brequire\(/);
        const evil = { type: "log", message: "</script><script>alert(1)</script><!--", t: "x" } as Stamped;
        const html = await workshopHtml({ title: "t <b>", events: [events[0]!, evil], report: "<h1>r</h1></script>" });
        expect(html).toContain("<title>t &lt;b&gt;</title>");
        const inline = /<script type="application\/json" id="sublab-events">([^<]*)<\/script>/.exec(html);
        expect(JSON.parse(inline![1]!)).toEqual([events[0], evil]);
        const report = /<script type="application\/json" id="sublab-report">([^<]*)<\/script>/.exec(html);
        expect(JSON.parse(report![1]!)).toBe("<h1>r</h1></script>");
    });
});

describe("sublab workshop's sources", () => {
    it("names what a source must be", () => {
        expect(() => resolveSource(path.join(tmp, "nothing.json"))).toThrow(/no such experiment file, run folder or events.jsonl/);
        fs.mkdirSync(path.join(tmp, "empty"), { recursive: true });
        expect(() => resolveSource(path.join(tmp, "empty"))).toThrow(/without events.jsonl/);
        expect(() => resolveSource(path.join(tmp, "secret.txt"))).toThrow(/expected an experiment file/);
        expect(resolveSource(RECORDING)).toMatchObject({ mode: "replay", events: RECORDING });
    });

    it("replays a recording: its events whole, the base to ask, only models whose files are here", async () => {
        const w = await startWorkshop({ source: RECORDING, port: 0 });
        try {
            expect(w.shared).toBe(false);
            expect(w.log.events).toEqual(latestRun(events));
            const models = askableModels(w.log);
            expect(models.has("base")).toBe(true);
            for (const m of models.values()) expect(fs.existsSync(m.model)).toBe(true);
            const info = (await (await fetch(`${w.url}api/info`)).json()) as Record<string, unknown>;
            expect(info).toMatchObject({ mode: "replay", run: "workshop", canStart: false });
        } finally {
            await w.close();
        }
    });

    it("shares read-only on another address, and gives the presenter a keyed address", async () => {
        const w = await startWorkshop({ source: RECORDING, port: 0, host: "0.0.0.0" });
        try {
            expect(w.shared).toBe(true);
            expect(w.presenterUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#key=[0-9a-f]{24}$/);
            const port = (w.server.address() as net.AddressInfo).port;
            expect((await rawGet(port, "/run/report.html")).status).toBe(403);
        } finally {
            await w.close();
        }
    });
});
