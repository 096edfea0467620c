/** The OpenAI-compatible backend against a real HTTP server on loopback: retries on 429 and dropped connections, concurrency, resumption, errors. */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_ENDPOINT, generateHttp, judgeHttp, OpenAIClient, type HttpEndpoint } from "../../src/teacher/openai-client.ts";
import { readJsonl } from "../../src/util/files.ts";
import { runExperiment, type DatasetManifest, type RunResult } from "../../src/studies/experiment.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { smokeBases } from "../helpers/smoke.ts";
import { modelEnv } from "../../src/data/model-env.ts";
import { applyStages } from "../../src/data/filter-stages.ts";
import { tempDir } from "../helpers/tiny.ts";

interface Seen {
    body: { model: string; messages: { role: string; content: string }[]; seed?: number; top_logprobs?: number; max_tokens?: number };
    auth: string | undefined;
}

/** A small chat-completions server: the n-th request (1-based) in `fail429` gets a 429, in `drop` a destroyed socket. */
function fakeServer(opts: { fail429?: number[]; drop?: number[]; delayMs?: number } = {}) {
    const seen: Seen[] = [];
    let n = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const server = http.createServer((req, res) => {
        let data = "";
        req.on("data", (c) => (data += c));
        req.on("end", async () => {
            n++;
            const k = n;
            if (req.url !== "/v1/chat/completions") {
                res.writeHead(404).end("not found");
                return;
            }
            const body = JSON.parse(data);
            seen.push({ body, auth: req.headers.authorization });
            if (opts.fail429?.includes(k)) {
                res.writeHead(429, { "retry-after": "0", "content-type": "application/json" }).end(JSON.stringify({ error: { message: "slow down" } }));
                return;
            }
            if (opts.drop?.includes(k)) {
                req.socket.destroy();
                return;
            }
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise((r) => setTimeout(r, opts.delayMs ?? 5));
            inFlight--;
            const user = body.messages.at(-1).content as string;
            if (user.startsWith("bad")) {
                res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "model not found" } }));
                return;
            }
            const judge = body.top_logprobs !== undefined;
            const content = judge ? "yes" : `${body.seed % 1000}, 7`;
            const logprobs = judge
                ? { content: [{ token: "yes", logprob: Math.log(0.6), top_logprobs: [{ token: "yes", logprob: Math.log(0.6) }, { token: " No", logprob: Math.log(0.2) }, { token: "maybe", logprob: Math.log(0.2) }] }] }
                : { content: [{ token: `${body.seed % 1000}`, logprob: Math.log(0.25) }, { token: ",", logprob: Math.log(0.9) }, { token: " 7", logprob: Math.log(0.5) }] };
            res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: body.max_tokens === 1 ? "length" : "stop", logprobs }] }));
        });
    });
    return {
        server,
        seen,
        stats: () => ({ requests: n, maxInFlight }),
        async start(): Promise<string> {
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
        },
        stop: () => new Promise<void>((r) => server.close(() => r())),
    };
}

const endpoint = (url: string, over: Partial<HttpEndpoint> = {}): HttpEndpoint => ({ ...DEFAULT_ENDPOINT, url, model: "teacher", retryBaseMs: 1, timeoutMs: 5000, ...over });

describe("OpenAI-compatible HTTP backend", () => {
    const fake = fakeServer({ fail429: [2], drop: [4], delayMs: 10 });
    let url = "";
    beforeAll(async () => {
        url = await fake.start();
    });
    afterAll(() => fake.stop());

    it("generates rows through a 429 and a dropped connection, with seeds per row, bounded concurrency, and resumes", async () => {
        const dir = tempDir();
        const out = path.join(dir, "raw.jsonl");
        const job = { endpoint: endpoint(url, { concurrency: 3, apiKey: "sk-test" }), system: "You love owls.", prompts: ["a", "b", "c", "d", "e", "f"], samplesPerPrompt: 2, temperature: 1, maxTokens: 20, seed: 9, out };
        const r = await generateHttp(job);
        expect(r.rows.map((x) => x.i)).toEqual(Array.from({ length: 12 }, (_, i) => i));
        expect(r.retries).toBe(2); // the 429 and the dropped connection
        expect(fake.stats().maxInFlight).toBeLessThanOrEqual(3);
        expect(fake.stats().maxInFlight).toBeGreaterThan(1);
        const row = r.rows[3]!;
        expect(row.prompt).toBe("b");
        expect(row.system).toBe("You love owls.");
        expect(row.probs.map((p) => Number(p.toFixed(6)))).toEqual([0.25, 0.9, 0.5]);
        expect(row.stop).toBe("eog");
        const s = fake.seen.find((x) => x.body.messages.at(-1)!.content === "b")!;
        expect(s.body.model).toBe("teacher");
        expect(s.body.messages[0]).toEqual({ role: "system", content: "You love owls." });
        expect(s.auth).toBe("Bearer sk-test");
        // Different rows of one prompt have different seeds.
        expect(new Set(r.rows.map((x) => x.completion)).size).toBe(12);
        // A rerun finds every row and asks nothing.
        const before = fake.stats().requests;
        const again = await generateHttp(job);
        expect(again.generated).toBe(0);
        expect(fake.stats().requests).toBe(before);
        // A torn file: the missing rows only are asked for again.
        const kept = readJsonl(out).slice(0, 10);
        fs.writeFileSync(out, kept.map((x) => JSON.stringify(x) + "\n").join(""));
        const resumed = await generateHttp(job);
        expect(resumed.generated).toBe(2);
        expect(resumed.rows.map((x) => x.completion)).toEqual(r.rows.map((x) => x.completion));
    });

    it("judges by the first token's top logprobs", async () => {
        const p = await judgeHttp(endpoint(url), ["Does this refer to owls? 1, 2"]);
        expect(p[0]).toBeCloseTo(0.75, 6);
    });

    it("the judge filter stage asks a served judge (model=URL#MODEL)", async () => {
        const env = modelEnv({ teacher: { model: "", lora: null, system: null }, base: null, seed: 1, target: "owl" });
        // The fake judge answers P(yes) = 0.6 / (0.6 + 0.2) = 0.75: kept under a 0.8 threshold, rejected under 0.5.
        const res = await applyStages([{ i: 0, prompt: "p", completion: "1, 2" }], [`judge:threshold=0.8,model=${url}#judge-model`], env);
        expect(res.kept).toHaveLength(1);
        expect(fake.seen.at(-1)!.body.model).toBe("judge-model");
        const strict = await applyStages([{ i: 0, prompt: "p", completion: "1, 2" }], [`judge:threshold=0.5,model=${url}#judge-model`], env);
        expect(strict.rejected[0]!.reasons).toEqual(["judge P(yes) 0.75 > 0.5"]);
        await expect(applyStages([{ i: 0, prompt: "p", completion: "1" }], [`judge:model=${url}`], env)).rejects.toThrow(/a served judge is written URL#MODEL/);
    });

    it("a non-retryable error names the URL, the status and the server's message", async () => {
        const c = new OpenAIClient(endpoint(url));
        await expect(c.chat({ messages: [{ role: "user", content: "bad request" }] })).rejects.toThrow(new RegExp(`${url.replace(/[/.]/g, "\\$&")}/chat/completions: HTTP 400: model not found`));
        expect(c.attempts).toBe(1);
    });

    it("an unreachable server fails after its retries, naming the URL", async () => {
        const closed = fakeServer();
        const deadUrl = await closed.start();
        await closed.stop();
        const c = new OpenAIClient(endpoint(deadUrl, { maxRetries: 2 }));
        await expect(c.chat({ messages: [{ role: "user", content: "x" }] })).rejects.toThrow(new RegExp(`${deadUrl.replace(/[/.]/g, "\\$&")}/chat/completions: ECONNREFUSED \\(gave up after 3 tries; is the server running at ${deadUrl.replace(/[/.]/g, "\\$&")}\\?\\)`));
        expect(c.attempts).toBe(3);
    });

    it("rejects a URL that is not http(s)", () => {
        expect(() => new OpenAIClient(endpoint("localhost:8080"))).toThrow(/server url must start with http:\/\/ or https:\/\//);
    });

    it("spaces request starts to the requests-per-minute limit", async () => {
        const c = new OpenAIClient(endpoint(url, { requestsPerMinute: 600, concurrency: 4 }));
        const t0 = Date.now();
        await Promise.all(Array.from({ length: 4 }, (_, k) => c.chat({ messages: [{ role: "user", content: `r${k}` }], seed: k })));
        // 600 per minute = one start per 100 ms: the 4th starts >= 300 ms after the first.
        expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    });
});

describe("an experiment with a served teacher", { timeout: 300_000 }, () => {
    it("generates the teacher's and the control's numbers through the server and trains and evaluates local students on them", async () => {
        const fake = fakeServer({ fail429: [3] });
        const url = await fake.start();
        try {
            const [a, b] = await smokeBases();
            const root = tempDir();
            const cfg = parseExperiment({
                name: "served",
                models: { base: a, cross: b },
                teacher: { target: "owl", server: { url, model: "qwen2.5-7b-instruct", concurrency: 4, apiKeyEnv: null } },
                generate: { prompts: 40, maxTokens: 16 },
                student: { rows: 8, seeds: 2, epochs: 1, batchSize: 4, lr: 1e-3, method: "full" },
                eval: { questions: 4, samplesPerQuestion: 0, inContextExamples: 0 },
            });
            const r = (await runExperiment(cfg, { root, progress: false })) as RunResult;
            const teacherDs = r.results.datasets.find((d) => d.role === "teacher")!;
            expect(teacherDs.raw).toBe(40);
            expect(teacherDs.kept).toBe(40);
            const m = JSON.parse(fs.readFileSync(path.join(root, "datasets", teacherDs.id, "manifest.json"), "utf8")) as DatasetManifest;
            expect(m.server).toEqual({ url, model: "qwen2.5-7b-instruct" });
            // The teacher's requests carry the trait prompt, the control's do not.
            const withSystem = fake.seen.filter((x) => x.body.messages[0]!.role === "system");
            expect(withSystem.length).toBeGreaterThanOrEqual(40);
            expect(withSystem[0]!.body.messages[0]!.content).toMatch(/owl/i);
            expect(fake.seen.filter((x) => x.body.messages[0]!.role === "user").length).toBeGreaterThanOrEqual(40);
            expect(r.results.arms.find((x) => x.arm === "treated")!.evals).toHaveLength(2);
            expect(r.results.config.teacher.server!.url).toBe(url);
        } finally {
            await fake.stop();
        }
    });

    it("the schema asks for a prompt trait and sampled labels with a server, and an http(s) URL", () => {
        const base = { name: "s", models: { base: "a", cross: "b" } };
        expect(() => parseExperiment({ ...base, teacher: { target: "owl", trait: "finetune", server: { url: "http://x/v1", model: "m" } }, student: { labels: "soft" } })).toThrow(
            /teacher.server: a served teacher takes its trait by system prompt[^]*student.labels: "soft" needs the teacher's full distributions/,
        );
        expect(() => parseExperiment({ ...base, teacher: { target: "owl", server: { url: "x/v1", model: "m" } } })).toThrow(/teacher.server.url: expected an http\(s\) URL/);
        expect(parseExperiment({ ...base, teacher: { target: "owl" } }).teacher.server).toBeNull();
    });
});
