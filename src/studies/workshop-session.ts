/**
 * `sublab workshop`: the live page for a room. From an experiment file it runs the experiment in this process
 * and streams its events as they happen; from a run folder or an events.jsonl (a shipped recording) it replays
 * them, following the file while it grows. The presenter can ask the base, the teacher and every student
 * that exists on this machine a question (exact probabilities of the items and one sampled answer).
 */
import fs from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { SublabEvent } from "../core/events.ts";
import { getGgml } from "../engine/ggml.ts";
import { exactItemProbs } from "../evaluate/evaluate.ts";
import { runExperiment } from "./experiment.ts";
import { loadExperiment } from "./experiment-file.ts";
import { sampleChats } from "../teacher/generate.ts";
import { EventLog, tailEventFile } from "../workshop/log.ts";
import { workshopHtml } from "../workshop/page.ts";
import { latestRun, reportOfEvents } from "../workshop/replay.ts";
import { createWorkshopServer, LOOPBACK_HOSTS, type AskAnswer, type AskRequest, type WorkshopInfo } from "../workshop/server.ts";

export interface WorkshopOptions {
    /** An experiment file (run live), a run folder or an events.jsonl (replayed). */
    source: string;
    /** Address to bind. Defaults to 127.0.0.1; anything else shares the page read-only. */
    host?: string;
    /** Port; 0 picks a free one. Defaults to 0. */
    port?: number;
    /** Live mode: start the run at once. Defaults to true. */
    start?: boolean;
    /** Live mode: where runs/ and datasets/ are. Defaults to the current directory. */
    root?: string;
    /** More host names the room may use in its address (a DNS name of this machine), besides `host` and loopback. */
    allowHosts?: string[];
}

export interface Workshop {
    url: string;
    /** The presenter's address (with the key, when shared). */
    presenterUrl: string;
    shared: boolean;
    log: EventLog;
    server: http.Server;
    /** Resolves when the live run (if any) ends. */
    running: () => Promise<void> | null;
    close: () => Promise<void>;
}

interface AskableModel {
    model: string;
    lora: string | null;
    system: string | null;
}

const LOOPBACK = new Set<string>(LOOPBACK_HOSTS);

/**
 * The host names a request may give (DNS rebinding): loopback, the address listened on, and, listening on every
 * interface (0.0.0.0 or ::), this machine's own addresses and name; plus any the presenter allows by name.
 */
export function allowedHosts(host: string, extra: readonly string[] = []): string[] {
    const all = host === "0.0.0.0" || host === "::";
    const own = all ? [os.hostname(), ...Object.values(os.networkInterfaces()).flatMap((xs) => (xs ?? []).map((x) => x.address))] : [host];
    return [...new Set([...LOOPBACK_HOSTS, ...own, ...extra].map((h) => h.toLowerCase()))];
}

/** The models a question can go to, from the events so far: the base, the teacher, every evaluated student whose files are here. */
export function askableModels(log: EventLog): Map<string, AskableModel> {
    const out = new Map<string, AskableModel>();
    const exists = (m: AskableModel) => fs.existsSync(m.model) && (m.lora === null || fs.existsSync(m.lora));
    const add = (name: string, m: AskableModel) => {
        if (exists(m)) out.set(name, m);
    };
    for (const e of latestRun(log.events)) {
        if (e.type === "run-start") add("base", { model: path.resolve(e.config.models.base), lora: null, system: null });
        else if (e.type === "teacher") add("teacher", { model: e.model, lora: e.lora, system: e.system });
        else if (e.type === "eval" && e.eval.seed !== null && !e.arm.startsWith("in-context"))
            add(e.label, { model: e.eval.model, lora: e.eval.lora, system: null });
    }
    return out;
}

function itemsOf(log: EventLog): string[] {
    const [start] = latestRun(log.events);
    return start?.type === "run-start" ? start.items : [];
}

function makeAsk(log: EventLog): (req: AskRequest) => Promise<AskAnswer> {
    let seed = 0;
    return async ({ model, question }) => {
        const m = askableModels(log).get(model);
        if (!m) throw new Error(`${model}: not available to ask`);
        const prompt = { system: m.system, user: question };
        const items = itemsOf(log);
        // One thread: a question takes at most one core from the live run's workers (they run one thread each).
        const g = getGgml();
        const threads = g.threads;
        g.setThreads(1);
        let probs: number[] | undefined;
        let answer: string;
        try {
            [probs] = await exactItemProbs(m.model, m.lora, [prompt], items);
            [[answer]] = (await sampleChats({
                model: m.model,
                lora: m.lora,
                prompts: [prompt],
                samplesPerPrompt: 1,
                temperature: 1,
                maxTokens: 24,
                parallel: 1,
                seed: ++seed,
                threads: 1,
            })) as [[string]];
        } finally {
            g.setThreads(threads);
        }
        const top = items
            .map((item, k) => ({ item, p: probs![k] ?? 0 }))
            .sort((a, b) => b.p - a.p)
            .slice(0, 6);
        return { model, question, answer: answer.trim(), top };
    };
}

/** What a source path is: an experiment file to run, or a recording to replay (run folder or events.jsonl). */
export function resolveSource(source: string): { mode: "live"; file: string } | { mode: "replay"; events: string; runDir: string | undefined } {
    if (!fs.existsSync(source)) throw new Error(`${source}: no such experiment file, run folder or events.jsonl`);
    if (fs.statSync(source).isDirectory()) {
        const events = path.join(source, "events.jsonl");
        if (!fs.existsSync(events)) throw new Error(`${source}: a folder without events.jsonl (not a run folder)`);
        return { mode: "replay", events, runDir: source };
    }
    if (source.endsWith(".jsonl"))
        return { mode: "replay", events: source, runDir: path.basename(source) === "events.jsonl" ? path.dirname(source) : undefined };
    if (source.endsWith(".json")) return { mode: "live", file: source };
    throw new Error(`${source}: expected an experiment file (.json), a run folder or an events.jsonl`);
}

export async function startWorkshop(o: WorkshopOptions): Promise<Workshop> {
    const host = o.host ?? "127.0.0.1";
    const shared = !LOOPBACK.has(host);
    const key = randomBytes(12).toString("hex");
    const src = resolveSource(o.source);
    const log = new EventLog();
    let info: WorkshopInfo;
    let stopTail: (() => void) | undefined;
    let runDir: string | undefined;
    let run: Promise<void> | null = null;
    let start: (() => boolean) | undefined;
    if (src.mode === "live") {
        const cfg = loadExperiment(src.file);
        info = { mode: "live", run: cfg.name, source: src.file };
        runDir = path.join(o.root ?? process.cwd(), "runs", cfg.name);
        start = () => {
            if (run) return false;
            const onEvent = (e: SublabEvent & { t: string }) => {
                if (e.type !== "progress") log.push(e);
            };
            run = runExperiment(cfg, { root: o.root, onEvent })
                .then(() => undefined)
                .catch((e: unknown) => {
                    const message = `the run stopped: ${(e as Error).message}`;
                    process.stderr.write(`${message}\n`);
                    log.push({ type: "log", message, t: new Date().toISOString() });
                })
                .finally(() => {
                    run = null;
                });
            return true;
        };
    } else {
        info = { mode: "replay", run: path.basename(src.runDir ?? src.events).replace(/\.events\.jsonl$|\.jsonl$/, ""), source: src.events };
        runDir = src.runDir;
        stopTail = tailEventFile(src.events, log);
        const first = log.events.find((e) => e.type === "run-start");
        if (first?.type === "run-start") info.run = first.run;
    }
    let page: Promise<string> | undefined;
    const server = createWorkshopServer({
        log,
        info,
        shared,
        key,
        hosts: allowedHosts(host, o.allowHosts),
        runDir,
        page: () => (page ??= workshopHtml({ title: `sublab workshop: ${info.run}` })),
        report: () => reportOfEvents(log.events, info.source),
        models: () => [...askableModels(log).keys()],
        ask: makeAsk(log),
        start,
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", (e: NodeJS.ErrnoException) =>
            reject(
                new Error(
                    e.code === "EADDRINUSE"
                        ? `port ${o.port} is in use: pass another --port (0 picks a free one)`
                        : `cannot listen on ${host}:${o.port ?? 0}: ${e.message}`,
                ),
            ),
        );
        server.listen(o.port ?? 0, host, () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : o.port;
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
    if (start && o.start !== false) start();
    return {
        url,
        presenterUrl: shared ? `${host === "0.0.0.0" || host === "::" ? `http://127.0.0.1:${port}/` : url}#key=${key}` : url,
        shared,
        log,
        server,
        running: () => run,
        close: async () => {
            stopTail?.();
            server.closeAllConnections();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}
