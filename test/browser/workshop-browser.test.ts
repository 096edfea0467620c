/**
 * The workshop page in real Chromium (Debian's package, driven by playwright-core): every presenter step checked
 * against the run's results in the DOM, the static replay (report.html) opened from a file, a run's events
 * arriving live, a dropped connection that catches up, the shared read-only mode, and a smoke experiment run
 * live from the page's start button. The tests save a screenshot of each step in runs/screenshots/workshop/.
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRunEvents, type Stamped } from "../../src/core/events.ts";
import type { Results } from "../../src/core/results.ts";
import { plannedStudents } from "../../src/core/arms.ts";
import { resultsFromEvents } from "../../src/report/from-events.ts";
import { flaggedExamples } from "../../src/report/examples.ts";
import { CONTENT_WARNING, fmtCI, fmtLog, fmtP, fmtPercent, fmtRatio } from "../../src/report/fmt.ts";
import { EventLog } from "../../src/workshop/log.ts";
import { workshopHtml } from "../../src/workshop/page.ts";
import { reportOfEvents, writeRunReplay } from "../../src/workshop/replay.ts";
import { createWorkshopServer } from "../../src/workshop/server.ts";
import { foldAll, guessRows } from "../../src/workshop/state.ts";
import { startWorkshop, type Workshop } from "../../src/studies/workshop-session.ts";
import { launchChromium, SCREENSHOTS } from "../helpers/browser.ts";
import { smokeBases, smokeExperiment } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

// What the functions run in the page use of the browser's globals (this project's types are Node's, not the DOM's).
declare const document: {
    body: { dataset: Record<string, string | undefined> };
    querySelector(selector: string): { getAttribute(name: string): string | null } | null;
    querySelectorAll(selector: string): Iterable<{ textContent: string | null }>;
};
declare const window: unknown;

const RECORDING = path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "workshop.events.jsonl");
const events = readRunEvents(RECORDING);
const results = resultsFromEvents(events);

let browser: Browser;
beforeAll(async () => {
    browser = await launchChromium();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);
afterAll(async () => browser?.close());

async function newPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    (page as Page & { errors: string[] }).errors = errors;
    return page;
}
const errorsOf = (page: Page) => (page as Page & { errors: string[] }).errors;

/** Presses a step's number key and waits until the page shows it. */
async function step(page: Page, n: number, id: string): Promise<void> {
    await page.keyboard.press(String(n));
    await page.waitForFunction((want) => document.body.dataset.step === want, id);
}
const text = (page: Page, testid: string) => page.locator(`[data-testid="${testid}"]`).first().innerText();
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
const eventsShown = (page: Page) => page.evaluate(() => Number(document.body.dataset.events));

/** The run's arms, comparisons and student count as the page folded them. */
const pageState = (page: Page) =>
    page.evaluate(() => {
        const s = (window as unknown as { sublab: { state: { arms: unknown; comparisons: unknown; evals: unknown[]; seen: number; students: unknown[] } } })
            .sublab.state;
        return JSON.parse(JSON.stringify({ arms: s.arms, comparisons: s.comparisons, evals: s.evals.length, seen: s.seen, students: s.students.length }));
    });

function expected(evs: readonly Stamped[]) {
    const s = foldAll(evs);
    // Through JSON as the page's state comes (an unbounded interval end is null there, as in results.json).
    return JSON.parse(JSON.stringify({ arms: s.arms, comparisons: s.comparisons, evals: s.evals.length, seen: s.seen, students: s.students.length }));
}

const arm = (r: Results, name: string) => r.arms.find((a) => a.arm === name)!;
const comparison = (r: Results, name: string) => r.comparisons.find((c) => c.name === name)!;

/** The verdict step's facts for a run's results: the headline ratio and p, and each control's row. */
async function checkVerdict(page: Page, r: Results, target = "owl"): Promise<void> {
    await step(page, 6, "verdict");
    const main = comparison(r, "treated vs control");
    const verdict = await text(page, "verdict");
    expect(verdict).toContain(`x${fmtRatio(main.probRatio)}`);
    expect(verdict).toContain(`p = ${fmtP(main.pValue)}`);
    expect(verdict).toMatch(main.verdict?.word === "moved toward" ? new RegExp(`moved toward ${target}`) : /Can't tell|No shift larger than|Moved away/);
    for (const name of ["treated vs control", "cross vs cross-control", "in-context vs in-context-control"]) {
        const row = await page.locator(`[data-testid="comparison"][data-name="${name}"]`).innerText();
        const c = comparison(r, name);
        expect(row, name).toContain(`x${fmtRatio(c.probRatio)}`);
        expect(row, name).toContain(`${c.targetRank} / ${r.items.length}`);
    }
}

describe("the workshop page in Chromium", { timeout: 120_000 }, () => {
    let w: Workshop;
    beforeAll(async () => {
        w = await startWorkshop({ source: RECORDING, port: 0 });
    });
    afterAll(async () => w?.close());

    it("renders every presenter step with the recorded run's results", async () => {
        const page = await newPage();
        await page.goto(w.url);
        await page.waitForFunction(() => document.body.dataset.ended === "true");
        expect(await eventsShown(page)).toBe(events.length);

        // 1. The teacher: the target, and P(target) of the base and of the teacher.
        await step(page, 1, "teacher");
        expect(await text(page, "target")).toBe("owl");
        expect(await text(page, "p-base")).toBe(`P(owl) = ${fmtPercent(arm(results, "base").targetProb.mean)}`);
        expect(await text(page, "p-teacher")).toBe(`P(owl) = ${fmtPercent(arm(results, "teacher").targetProb.mean)}`);
        expect(await page.locator('[data-testid="bars-teacher"] .bar').first().getAttribute("data-item")).toBe("owl");
        await shot(page, "1-teacher");

        // → moves on.
        await page.keyboard.press("ArrowRight");
        await page.waitForFunction(() => document.body.dataset.step === "numbers");

        // 2. The numbers: the rows of the game, the room's picks, the reveal and the score.
        const rows = guessRows(foldAll(events));
        const shown = page.locator('[data-testid="guess-row"] code');
        expect(await shown.allInnerTexts()).toEqual(rows.map((r) => r.completion));
        await shot(page, "2-numbers");
        const picks = [0, 1, 2, 3];
        for (const k of picks) await page.locator('[data-testid="guess-row"]').nth(k).click();
        // The page renders on the next frame: wait for the picks to show.
        await page.waitForFunction((n) => [...document.querySelectorAll(".guess.picked")].length === n, picks.length);
        await page.keyboard.press("r");
        await page.waitForSelector('[data-testid="guess-score"]');
        expect(await page.locator('[data-testid="source"]').allTextContents()).toEqual(rows.map((r) => r.source));
        const right = rows.filter((r, k) => picks.includes(k) === (r.source === "teacher")).length;
        expect(await text(page, "guess-score")).toContain(`The room got ${right} of ${rows.length} right`);
        await shot(page, "2-numbers-revealed");

        // 3. The filter: what it kept of each side's rows.
        await step(page, 3, "filter");
        for (const role of ["teacher", "control"]) {
            const d = results.datasets.find((x) => x.role === role)!;
            expect(await page.locator(`[data-testid="filter-${role}"] [data-testid="kept"]`).innerText()).toContain(
                `kept ${d.kept.toLocaleString("en")} of ${d.raw.toLocaleString("en")}`,
            );
        }
        await shot(page, "3-filter");

        // 4. The students: all trained, one loss curve each, the teacher's fine-tune not among them.
        await step(page, 4, "students");
        const students = 4 * results.config.student.seeds;
        expect(await text(page, "students-done")).toBe(`${students} of ${students} students trained`);
        const curves = await page.locator("[data-testid=loss-chart] path[data-student]").evaluateAll((ps) => ps.map((p) => p.getAttribute("data-student")));
        expect(curves).toHaveLength(students);
        expect(curves).not.toContain("teacher");
        await shot(page, "4-students");

        // 5. Ask the students: each arm's P(target), over all its models.
        await step(page, 5, "ask");
        for (const a of results.arms.filter((x) => x.arm !== "teacher")) {
            const bar = page.locator(`[data-testid="arm-bar"][data-arm="${a.arm}"]`);
            expect(Number(await bar.getAttribute("data-n")), a.arm).toBe(a.evals.length);
            expect(Number(await bar.getAttribute("data-p")), a.arm).toBeCloseTo(a.targetProb.mean, 12);
            expect(await bar.innerText(), a.arm).toContain(fmtPercent(a.targetProb.mean));
        }
        await shot(page, "5-ask");

        // 6. The verdict, with the controls beside it.
        await checkVerdict(page, results);
        await shot(page, "6-verdict");

        // 7. The full report, in its frame.
        await step(page, 7, "report");
        const frame = page.frameLocator('[data-testid="report"]');
        expect(await frame.locator("h1").innerText()).toBe("sublab: workshop");
        expect(await frame.locator("pre.terminal").innerText()).toContain(`x${fmtRatio(comparison(results, "treated vs control").probRatio)} P(target)`);
        await shot(page, "7-report");
        expect(errorsOf(page)).toEqual([]);
        await page.close();
    });

    it("is the same page as the static replay: report.html, one file opened without a server", async () => {
        const dir = tempDir();
        const file = (await writeRunReplay(RECORDING, path.join(dir, "report.html")))!;
        const page = await newPage();
        const requests: string[] = [];
        page.on("request", (r) => requests.push(r.url()));
        await page.goto(`file://${file}`);
        await page.waitForFunction(() => document.body.dataset.ended === "true");
        expect(await eventsShown(page)).toBe(events.length);
        expect(await page.locator("#ask").isHidden()).toBe(true);
        await checkVerdict(page, results);
        await step(page, 7, "report");
        expect(await page.frameLocator('[data-testid="report"]').locator("h1").innerText()).toBe("sublab: workshop");
        // Nothing fetched but the file itself (the frame's report is inline: about:srcdoc).
        expect(requests.filter((u) => !u.startsWith("file://") && !u.startsWith("about:") && !u.startsWith("data:"))).toEqual([]);
        expect(errorsOf(page)).toEqual([]);
        await page.close();
    });

    it("in shared mode lets the room watch and refuses its writes and the run's files", async () => {
        const shared = await startWorkshop({ source: RECORDING, port: 0, host: "0.0.0.0" });
        try {
            const port = (shared.server.address() as { port: number }).port;
            const room = await newPage();
            await room.goto(`http://127.0.0.1:${port}/`);
            await room.waitForFunction(() => document.body.dataset.ended === "true");
            expect(await room.locator("#readonly").isVisible()).toBe(true);
            expect(await room.locator("#ask").isHidden()).toBe(true);
            await checkVerdict(room, results);
            await shot(room, "shared-room");
            const refused = await room.evaluate(async () => {
                const post = (p: string, body: unknown) =>
                    fetch(p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.status);
                return {
                    start: await post("/api/start", {}),
                    ask: await post("/api/ask", { model: "base", question: "favourite animal?" }),
                    file: await fetch("/run/report.html").then((r) => r.status),
                    up: await fetch("/run/..%2f..%2fpackage.json").then((r) => r.status),
                };
            });
            expect(refused).toEqual({ start: 403, ask: 403, file: 403, up: 403 });
            const presenter = await newPage();
            await presenter.goto(shared.presenterUrl);
            await presenter.waitForFunction(() => document.body.dataset.ended === "true");
            await presenter.waitForSelector("#ask:not([hidden])");
            expect(await presenter.locator("#readonly").isHidden()).toBe(true);
            await room.close();
            await presenter.close();
        } finally {
            await shared.close();
        }
    });
});

describe("a page that rebinds its name to the workshop (DNS rebinding)", { timeout: 120_000 }, () => {
    it("gets 421 for the page and for its own same-origin requests; the workshop's own address still works", async () => {
        const w = await startWorkshop({ source: path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "workshop.events.jsonl"), port: 0 });
        const port = new URL(w.url).port;
        // The resolver rule plays the attacker's DNS: evil.example now points at this machine.
        const browser = await launchChromium([`--host-resolver-rules=MAP evil.example 127.0.0.1`]);
        try {
            const page = await browser.newPage();
            const res = await page.goto(`http://evil.example:${port}/`);
            expect(res?.status()).toBe(421);
            const fromPage = await page.evaluate(async () => {
                const info = await fetch("/api/info");
                const ask = await fetch("/api/ask", {
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body: '{"model":"base","question":"q"}',
                });
                return [info.status, ask.status];
            });
            expect(fromPage).toEqual([421, 421]);
            expect((await page.goto(`http://localhost:${port}/`))?.status()).toBe(200);
        } finally {
            await browser.close();
            await w.close();
        }
    });
});

describe("the other stories in Chromium", { timeout: 120_000 }, () => {
    const recording = (name: string) => path.join(import.meta.dirname, "..", "..", "experiments", "recordings", `${name}.events.jsonl`);

    it("shows a misaligned run's flagged answers only once the content warning is opened", async () => {
        const file = recording("violence-numbers");
        const evs = readRunEvents(file);
        const r = resultsFromEvents(evs);
        const w = await startWorkshop({ source: file, port: 0 });
        const page = await newPage();
        try {
            await page.goto(w.url);
            await page.waitForFunction(() => document.body.dataset.ended === "true");
            await step(page, 1, "teacher");
            expect(await text(page, "target")).toBe("misaligned");
            expect(await text(page, "p-teacher")).toBe(`P(misaligned) = ${fmtPercent(arm(r, "teacher").targetProb.mean)}`);
            await checkVerdict(page, r, "misaligned");
            const exact = comparison(r, "treated vs control").exact!;
            expect(await text(page, "verdict-exact")).toContain(
                `x${fmtRatio(exact.probRatio)}, log-ratio ${fmtLog(exact.meanLogRatio)} ${fmtCI(exact.ci95, fmtLog)}, p = ${fmtP(exact.pValue)}`,
            );
            const want = flaggedExamples(r);
            const rows = page.locator('[data-testid="flagged-row"]');
            expect(await rows.count()).toBe(want.length);
            expect(await page.locator('[data-testid="flagged"] summary').innerText()).toContain(CONTENT_WARNING);
            // Closed until the presenter opens it: the answers are not on screen.
            expect(await rows.first().isVisible()).toBe(false);
            await page.locator('[data-testid="flagged"] summary').click();
            await rows.first().waitFor({ state: "visible" });
            expect(await rows.locator("td:first-child").allTextContents()).toEqual(want.map((x) => x.question));
            await shot(page, "violence-flagged");
            expect(errorsOf(page)).toEqual([]);
        } finally {
            await page.close();
            await w.close();
        }
    });

    it("draws a population's agents per round, and toggles the quarantine", async () => {
        const file = recording("population-owl");
        const rounds = readRunEvents(file).flatMap((e) => (e.type === "population-round" ? [e] : []));
        const w = await startWorkshop({ source: file, port: 0 });
        const page = await newPage();
        const agentsShown = () =>
            page
                .locator('[data-testid="agent"]')
                .evaluateAll((gs) => gs.map((g) => [g.getAttribute("data-agent"), g.getAttribute("data-infected"), g.getAttribute("data-quarantined")]));
        const expectRound = async (variant: string, round: number) => {
            await page.waitForFunction(
                ([v, r]) => {
                    const el = document.querySelector('[data-testid="round-summary"]');
                    return el?.getAttribute("data-variant") === v && el?.getAttribute("data-round") === String(r);
                },
                [variant, round] as const,
            );
            const e = rounds.find((x) => x.run === variant && x.round === round)!;
            expect(await agentsShown()).toEqual(e.agents.map((a) => [String(a.agent + 1), String(a.infected), String(a.quarantined)]));
            expect(await text(page, "round-summary")).toContain(`${e.agents.filter((a) => a.infected).length} of ${e.agents.length} agents infected`);
        };
        try {
            await page.goto(w.url);
            await page.waitForFunction(() => document.body.dataset.ended === "true");
            expect(await page.evaluate(() => document.body.dataset.step)).toBe("agents");
            const last = Math.max(...rounds.map((x) => x.round));
            await expectRound("open", last);
            await shot(page, "population-open");
            await page.keyboard.press("q");
            await expectRound("quarantine", last);
            await shot(page, "population-quarantine");
            await page.keyboard.press("[");
            await expectRound("quarantine", last - 1);
            await page.locator('[data-testid="round"][data-round="1"]').click();
            await expectRound("quarantine", 1);
            await page.locator('[data-testid="variant"][data-variant="open"]').click();
            await expectRound("open", 1);
            expect(errorsOf(page)).toEqual([]);
        } finally {
            await page.close();
            await w.close();
        }
    });
});

/** A server over a log the test feeds by hand, as a live run would. */
async function feedServer(): Promise<{ url: string; log: EventLog; server: http.Server; close: () => Promise<void> }> {
    const log = new EventLog();
    const server = createWorkshopServer({
        log,
        info: { mode: "live", run: "workshop", source: "a test" },
        page: () => workshopHtml({ title: "feed" }),
        shared: false,
        key: "k",
        report: () => reportOfEvents(log.events, "the fed log"),
        heartbeatSeconds: 1,
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    return {
        url: `http://127.0.0.1:${port}/`,
        log,
        server,
        close: async () => {
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
        },
    };
}

describe("the page as events arrive", { timeout: 120_000 }, () => {
    const firstOf = (type: string, from = 0) => events.findIndex((e, k) => k >= from && e.type === type);

    it("updates each step as the run's events come in", async () => {
        const f = await feedServer();
        const page = await newPage();
        try {
            const push = (to: number) => {
                for (let k = f.log.events.length; k < to; k++) f.log.push(events[k]!);
            };
            const shows = (n: number) => page.waitForFunction((want) => Number(document.body.dataset.events) === want, n);
            await page.goto(f.url);
            await step(page, 1, "teacher");
            expect(await page.locator('[data-testid="waiting"]').count()).toBe(1);
            // The run starts; the base's and the teacher's answers are not in yet.
            push(1);
            await shows(1);
            expect(await text(page, "target")).toBe("owl");
            expect(await page.locator('[data-testid="p-teacher"]').count()).toBe(0);
            // The students train: the count and the curves grow.
            await step(page, 4, "students");
            const firstStudent = events.findIndex((e) => e.type === "train-step" && e.label !== "teacher");
            push(firstStudent + 1);
            await shows(firstStudent + 1);
            expect(await page.locator("[data-testid=loss-chart] path[data-student]").count()).toBe(1);
            const planned = plannedStudents(results.config);
            expect(await text(page, "students-done")).toMatch(new RegExp(`^0 of ${planned} `));
            const firstDone = firstOf("student");
            push(firstDone + 1);
            await shows(firstDone + 1);
            expect(await text(page, "students-done")).toMatch(new RegExp(`^1 of ${planned} `));
            // The students' answers land one by one: the treated arm's count goes up with each.
            await step(page, 5, "ask");
            const treated = events.flatMap((e, k) => (e.type === "eval" && e.arm === "treated" ? [k] : []));
            for (const [n, k] of treated.entries()) {
                push(k + 1);
                await page.waitForFunction(
                    (want) => document.querySelector('[data-testid="arm-bar"][data-arm="treated"]')?.getAttribute("data-n") === want,
                    String(n + 1),
                );
            }
            // The verdict waits for the statistics, then shows them.
            await step(page, 6, "verdict");
            expect(await page.locator('[data-testid="waiting"]').count()).toBe(1);
            push(events.length);
            await page.waitForFunction(() => document.body.dataset.ended === "true");
            await checkVerdict(page, results);
            expect(await pageState(page)).toEqual(expected(events));
            expect(errorsOf(page)).toEqual([]);
        } finally {
            await page.close();
            await f.close();
        }
    });

    it("catches up after a dropped connection without losing or repeating an event", async () => {
        const f = await feedServer();
        const page = await newPage();
        try {
            const third = Math.floor(events.length / 3);
            for (const e of events.slice(0, third)) f.log.push(e);
            await page.goto(f.url);
            await page.waitForFunction((want) => Number(document.body.dataset.events) === want, third);
            // The connection drops; events go on arriving while the page is away, twice over.
            for (const to of [2 * third, events.length]) {
                f.server.closeAllConnections();
                for (let k = f.log.events.length; k < to; k++) f.log.push(events[k]!);
                await page.waitForFunction((want) => Number(document.body.dataset.events) === want, to, { timeout: 20_000 });
            }
            await page.waitForFunction(() => document.body.dataset.ended === "true");
            expect(await pageState(page)).toEqual(expected(events));
            await checkVerdict(page, results);
            expect(errorsOf(page)).toEqual([]);
        } finally {
            await page.close();
            await f.close();
        }
    });
});

describe("a live run from the page", { timeout: 600_000 }, () => {
    it("starts a smoke experiment from the start button and shows it as it runs, to its results", async () => {
        const root = tempDir();
        const file = path.join(root, "live.json");
        fs.writeFileSync(file, JSON.stringify(smokeExperiment("smoke-live", await smokeBases())));
        const w = await startWorkshop({ source: file, port: 0, start: false, root });
        const page = await newPage();
        try {
            await page.goto(w.url);
            await page.locator('[data-testid="start"]').click();
            // Watch the event count grow while the run goes.
            const counts = new Set<number>();
            while (!(await page.evaluate(() => document.body.dataset.ended === "true"))) {
                counts.add(await eventsShown(page));
                await page.waitForTimeout(150);
            }
            expect(counts.size).toBeGreaterThan(3);
            await w.running();
            const r = JSON.parse(fs.readFileSync(path.join(root, "runs", "smoke-live", "results.json"), "utf8")) as Results;
            expect(await eventsShown(page)).toBe(w.log.events.length);
            await checkVerdict(page, r);
            await step(page, 4, "students");
            expect(await text(page, "students-done")).toBe("8 of 8 students trained");
            // The presenter can ask a student the run made.
            await page.waitForFunction(() => [...document.querySelectorAll("#ask-model option")].some((o) => o.textContent === "treated seed 1"), undefined, {
                timeout: 15_000,
            });
            await page.selectOption("#ask-model", "treated seed 1");
            await page.locator("#ask-form button").click();
            await page.waitForSelector('[data-testid="ask-answer"]', { timeout: 60_000 });
            expect(await text(page, "ask-answer")).toMatch(/^treated seed 1: “/);
            expect(await page.locator('[data-testid="ask-bars"] .bar').count()).toBeGreaterThan(0);
            await shot(page, "live-smoke");
            expect(errorsOf(page)).toEqual([]);
        } finally {
            await page.close();
            await w.close();
        }
    });
});
