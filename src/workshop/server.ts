/**
 * The workshop's HTTP server (node:http, no framework): the page, the run's events as Server-Sent Events, and
 * the presenter's actions. Routes:
 *
 *   GET  /                 the page
 *   GET  /api/info         the run, the mode, what this client may do, the models it can ask
 *   GET  /api/events       the run's events (text/event-stream; `Last-Event-ID` or `?from=N` resumes after a drop)
 *   GET  /api/report       the finished run's full report (a page; 404 until the run ends)
 *   GET  /run/<file>       a file of the run's folder (results.json, report.html...): presenter only
 *   POST /api/ask          {model, question}: a model's answer and its distribution over the items: presenter only
 *   POST /api/start        start (or restart) the live run: presenter only
 *
 * Bound to 127.0.0.1 everything is the presenter's. Shared on a room's network (`--host`), the audience
 * watches: a request acts as the presenter only with the key printed at start (header `x-sublab-key`, which
 * the presenter's page reads from its address's #key=... fragment). Write actions refuse a foreign Origin and
 * any body that is not a small JSON object, so another site open in the presenter's browser cannot act either.
 *
 * Every route first checks the Host header against an allow-list (loopback names and the address the server was
 * given): a page that rebinds its own name to this address (DNS rebinding) is answered 421 before anything runs.
 * Asking a model runs one question at a time, at most ASK_PER_CLIENT waiting per client and ASK_TOTAL in all
 * (429 with Retry-After past that), so that a room pressing Ask cannot take a live run's cores.
 */
import { timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { EventLog } from "./log.ts";

export interface AskRequest {
    model: string;
    question: string;
}

export interface AskAnswer {
    model: string;
    question: string;
    answer: string;
    /** The items by exact probability, most probable first (the first few). */
    top: { item: string; p: number }[];
}

export interface WorkshopInfo {
    mode: "live" | "replay";
    run: string;
    /** Where the events come from: the experiment file, or the recording. */
    source: string;
}

export interface WorkshopServerOptions {
    log: EventLog;
    info: WorkshopInfo;
    /** The page's HTML (built once, on the first request). */
    page: () => Promise<string>;
    /** Shared on a network: write actions and files need the key. */
    shared: boolean;
    /** The presenter's key (shared mode). */
    key: string;
    /** The run's folder, for /run/<file>; absent: no files. */
    runDir?: string;
    /** The full report of the run, once it has ended (null before). */
    report?: () => string | null;
    /** Models that can be asked now (names for /api/ask). */
    models?: () => string[];
    ask?: (req: AskRequest) => Promise<AskAnswer>;
    /** Starts the live run; false when one is going already. */
    start?: () => boolean;
    /** Seconds between keep-alive comments on open event streams. Defaults to 15. */
    heartbeatSeconds?: number;
    /**
     * Host names (without port) a request may name in its Host header, besides the loopback ones: the address
     * the server listens on, and, listening on every interface, the machine's addresses (see allowedHosts).
     */
    hosts?: readonly string[];
}

/** Loopback names every workshop answers to. */
export const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"] as const;
/** Questions waiting or running per client, and in all, before Ask answers 429. */
export const ASK_PER_CLIENT = 2;
export const ASK_TOTAL = 8;

const MAX_BODY = 16 * 1024;
const MAX_QUESTION = 300;

class HttpError extends Error {
    headers: Record<string, string> = {};
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
    res.end(text);
}

/** The key compared in constant time (a wrong key's length or prefix tells nothing). */
function isPresenter(o: WorkshopServerOptions, req: http.IncomingMessage): boolean {
    if (!o.shared) return true;
    const given = req.headers["x-sublab-key"];
    if (typeof given !== "string") return false;
    const [a, b] = [Buffer.from(given), Buffer.from(o.key)];
    return a.length === b.length && timingSafeEqual(a, b);
}

/** The host name of a Host header ("[::1]:4173" -> "::1", "localhost:4173" -> "localhost"), lower case. */
export function hostName(header: string): string {
    const h = header.trim().toLowerCase();
    if (h.startsWith("[")) return h.slice(1, h.indexOf("]") < 0 ? undefined : h.indexOf("]"));
    const colon = h.lastIndexOf(":");
    return colon < 0 ? h : h.slice(0, colon);
}

/** A request whose Host is not one this workshop answers to is refused (421) before anything else. */
function checkHost(o: WorkshopServerOptions, req: http.IncomingMessage): void {
    const header = req.headers.host;
    if (typeof header !== "string" || header === "") throw new HttpError(400, "the request has no Host header");
    const name = hostName(header);
    const allowed = new Set<string>([...LOOPBACK_HOSTS, ...(o.hosts ?? []).map((x) => x.toLowerCase())]);
    if (!allowed.has(name))
        throw new HttpError(
            421,
            `Host ${JSON.stringify(header)} is not this workshop's address (it answers to ${[...allowed].join(", ")}); a page that rebinds its name to this machine cannot use it`,
        );
}

/**
 * After an answer that took t, the next question waits ASK_REST x t: Ask takes at most 1 / (1 + ASK_REST) of the
 * time, so a room pressing Ask does not starve a live run of its cores (`npm run bench -- ask-load` measures it).
 */
export const ASK_REST = 3;

/** Ask's queue: one question at a time, each followed by its rest, a bounded number waiting per client and in all. */
export class AskQueue {
    constructor(private readonly rest = ASK_REST) {}
    private tail: Promise<unknown> = Promise.resolve();
    private readonly perClient = new Map<string, number>();
    private total = 0;

    run<T>(client: string, job: () => Promise<T>): Promise<T> {
        const mine = this.perClient.get(client) ?? 0;
        if (mine >= ASK_PER_CLIENT || this.total >= ASK_TOTAL) {
            const e = new HttpError(
                429,
                mine >= ASK_PER_CLIENT
                    ? `at most ${ASK_PER_CLIENT} questions of yours at a time: wait for an answer`
                    : `${ASK_TOTAL} questions are waiting: ask again in a moment`,
            );
            e.headers = { "retry-after": String(Math.max(1, this.total)) };
            throw e;
        }
        this.perClient.set(client, mine + 1);
        this.total++;
        const done = () => {
            this.total--;
            const left = (this.perClient.get(client) ?? 1) - 1;
            if (left > 0) this.perClient.set(client, left);
            else this.perClient.delete(client);
        };
        let t0 = 0;
        const result = this.tail.then(() => {
            t0 = performance.now();
            return job();
        });
        // The answer goes out at once; the queue rests before the next question, and the slot is freed after it.
        const rest = () => new Promise<void>((r) => setTimeout(r, this.rest * (performance.now() - t0))).then(done);
        this.tail = result.then(rest, rest);
        return result;
    }
}

function requirePresenter(o: WorkshopServerOptions, req: http.IncomingMessage, what: string): void {
    if (!isPresenter(o, req)) throw new HttpError(403, `${what}: the page is shared read-only; only the presenter (with the key) can do this`);
}

/** A POST's body: a JSON object under MAX_BODY, sent as application/json from this server's own origin. */
async function jsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, `origin ${origin} may not act on this workshop`);
    if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) throw new HttpError(415, "the body must be application/json");
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY) throw new HttpError(413, `the body is over ${MAX_BODY} bytes`);
        chunks.push(chunk as Buffer);
    }
    let body: unknown;
    try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "null");
    } catch {
        throw new HttpError(400, "the body is not JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "the body must be a JSON object");
    return body as Record<string, unknown>;
}

/** The id after which a reconnecting stream resumes: Last-Event-ID (the browser's), else ?from=N, else 0. */
function resumeFrom(req: http.IncomingMessage, url: URL): number {
    const last = req.headers["last-event-id"];
    if (typeof last === "string" && last !== "") {
        if (!/^\d+$/.test(last)) throw new HttpError(400, `Last-Event-ID ${JSON.stringify(last)} is not an event id`);
        return Number(last) + 1;
    }
    const from = url.searchParams.get("from");
    if (from === null) return 0;
    if (!/^\d+$/.test(from)) throw new HttpError(400, `from=${JSON.stringify(from)} is not an event id`);
    return Number(from);
}

function streamEvents(o: WorkshopServerOptions, req: http.IncomingMessage, res: http.ServerResponse, from: number): void {
    res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
    });
    res.write("retry: 1000\n\n");
    const stop = o.log.follow(from, (id, e) => {
        res.write(`id: ${id}\ndata: ${JSON.stringify(e)}\n\n`);
    });
    const beat = setInterval(() => res.write(": keep-alive\n\n"), (o.heartbeatSeconds ?? 15) * 1000);
    const close = () => {
        clearInterval(beat);
        stop();
    };
    req.on("close", close);
    res.on("error", close);
}

/** A file inside the run's folder; a path that leaves it (.., an absolute path, a link out) is refused. */
function runFile(o: WorkshopServerOptions, rel: string, res: http.ServerResponse): void {
    if (!o.runDir) throw new HttpError(404, "this workshop has no run folder");
    let name: string;
    try {
        name = decodeURIComponent(rel);
    } catch {
        throw new HttpError(400, "the file name is not valid percent-encoding");
    }
    if (name === "" || name.includes("\0") || path.isAbsolute(name) || name.split(/[\\/]/).includes(".."))
        throw new HttpError(400, `${JSON.stringify(name)}: not a file of the run`);
    const root = fs.realpathSync(o.runDir);
    const file = path.join(root, name);
    if (!fs.existsSync(file)) throw new HttpError(404, `${name}: no such file in the run`);
    const real = fs.realpathSync(file);
    if (real !== root && !real.startsWith(root + path.sep)) throw new HttpError(400, `${name}: not a file of the run`);
    if (!fs.statSync(real).isFile()) throw new HttpError(404, `${name}: not a file`);
    const types: Record<string, string> = {
        ".html": "text/html",
        ".json": "application/json",
        ".jsonl": "application/x-ndjson",
        ".md": "text/markdown",
        ".svg": "image/svg+xml",
        ".png": "image/png",
    };
    const type = types[path.extname(real)] ?? "application/octet-stream";
    const data = fs.readFileSync(real);
    res.writeHead(200, { "content-type": `${type}; charset=utf-8`, "content-length": data.length, "x-content-type-options": "nosniff" });
    res.end(data);
}

async function route(o: WorkshopServerOptions, asks: AskQueue, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    checkHost(o, req);
    let url: URL;
    try {
        url = new URL(req.url ?? "/", "http://workshop");
    } catch {
        throw new HttpError(400, "malformed request address");
    }
    const p = url.pathname;
    const allow = (method: string) => {
        if (req.method !== method) {
            res.setHeader("allow", method);
            throw new HttpError(405, `${req.method} ${p}: use ${method}`);
        }
    };
    if (p === "/" || p === "/index.html") {
        allow("GET");
        const html = await o.page();
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(html), "cache-control": "no-store" });
        res.end(html);
        return;
    }
    if (p === "/favicon.ico") {
        res.writeHead(204).end();
        return;
    }
    if (p === "/api/info") {
        allow("GET");
        const presenter = isPresenter(o, req);
        sendJson(res, 200, {
            ...o.info,
            shared: o.shared,
            presenter,
            canAsk: presenter && !!o.ask,
            canStart: presenter && !!o.start,
            models: presenter && o.models ? o.models() : [],
            events: o.log.events.length,
        });
        return;
    }
    if (p === "/api/events") {
        allow("GET");
        streamEvents(o, req, res, resumeFrom(req, url));
        return;
    }
    if (p === "/api/report") {
        allow("GET");
        const html = o.report?.() ?? null;
        if (html === null) throw new HttpError(404, "the run has not finished: its report comes with its last event");
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(html), "cache-control": "no-store" });
        res.end(html);
        return;
    }
    if (p.startsWith("/run/")) {
        allow("GET");
        requirePresenter(o, req, "reading the run's files");
        runFile(o, p.slice("/run/".length), res);
        return;
    }
    if (p === "/api/ask") {
        allow("POST");
        requirePresenter(o, req, "asking a model");
        const body = await jsonBody(req);
        if (!o.ask) throw new HttpError(404, "this workshop cannot ask models");
        const { model, question } = body;
        if (typeof model !== "string" || model === "") throw new HttpError(400, "model: expected a model's name (see /api/info)");
        if (typeof question !== "string" || question.trim() === "") throw new HttpError(400, "question: expected a non-empty string");
        if (question.length > MAX_QUESTION) throw new HttpError(400, `question: at most ${MAX_QUESTION} characters`);
        const known = o.models?.() ?? [];
        if (!known.includes(model))
            throw new HttpError(400, `model: ${JSON.stringify(model)} is not one of this run's models (${known.join(", ") || "none yet"})`);
        const ask = o.ask;
        sendJson(res, 200, await asks.run(req.socket.remoteAddress ?? "?", () => ask({ model, question: question.trim() })));
        return;
    }
    if (p === "/api/start") {
        allow("POST");
        requirePresenter(o, req, "starting a run");
        await jsonBody(req);
        if (!o.start) throw new HttpError(409, "this workshop replays a recording; start one from an experiment file to run it live");
        const started = o.start();
        sendJson(res, started ? 202 : 409, started ? { started: true } : { started: false, error: "the run is going already" });
        return;
    }
    throw new HttpError(404, `${p}: no such page`);
}

export function createWorkshopServer(o: WorkshopServerOptions): http.Server {
    const asks = new AskQueue();
    return http.createServer((req, res) => {
        route(o, asks, req, res).catch((e: unknown) => {
            const status = e instanceof HttpError ? e.status : 500;
            const message = e instanceof Error ? e.message : String(e);
            if (status === 500) process.stderr.write(`workshop: ${req.method} ${req.url}: ${message}\n`);
            if (res.headersSent) res.end();
            else {
                if (e instanceof HttpError) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
                sendJson(res, status, { error: message });
            }
        });
    });
}
