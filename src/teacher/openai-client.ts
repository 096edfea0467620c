/**
 * An OpenAI-compatible HTTP backend (llama-server, vLLM, Ollama, or a hosted API): chat completions with
 * bounded concurrency, a requests-per-minute limit, retries with exponential backoff on 429, 5xx, timeouts
 * and dropped connections (a 429's Retry-After is honoured), and errors that name the URL. Teacher
 * generation through it writes the same resumable rows as local generation (with the server's per-token
 * probabilities when it returns logprobs), and it can judge (P(yes) from the first token's top logprobs).
 */
import fs from "node:fs";
import { generateRows, rowSeed, type RawRow, type RowSource, type RowsRequest } from "../core/rows.ts";
import { Interrupted } from "../util/interrupt.ts";
import { yesShare } from "../prompts/judge-prompts.ts";

export interface HttpEndpoint {
    /** Base URL of the API, e.g. http://127.0.0.1:8080/v1 (the client appends /chat/completions). */
    url: string;
    model: string;
    /** Sent as a bearer token when set. */
    apiKey?: string | null;
    /** Requests in flight at once. */
    concurrency: number;
    /** Request starts per minute (null: unlimited). */
    requestsPerMinute: number | null;
    /** Retries of one request after its first try. */
    maxRetries: number;
    timeoutMs: number;
    /** First backoff; doubled each retry. */
    retryBaseMs: number;
}

export const DEFAULT_ENDPOINT: Omit<HttpEndpoint, "url" | "model"> = {
    apiKey: null,
    concurrency: 8,
    requestsPerMinute: null,
    maxRetries: 5,
    timeoutMs: 120_000,
    retryBaseMs: 500,
};

export interface ChatMessage {
    role: "system" | "user" | "assistant";
    content: string;
}

export interface ChatRequest {
    messages: ChatMessage[];
    temperature?: number;
    max_tokens?: number;
    seed?: number;
    logprobs?: boolean;
    top_logprobs?: number;
}

export interface ChatResult {
    text: string;
    finishReason: string | null;
    /** Per generated token: its text and log-probability, with the top alternatives when asked for. */
    tokens: { token: string; logprob: number; top: { token: string; logprob: number }[] }[] | null;
}

class HttpError extends Error {
    constructor(
        message: string,
        readonly retryable: boolean,
        readonly retryAfterMs: number | null = null,
    ) {
        super(message);
    }
}

const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });

export class OpenAIClient {
    private inFlight = 0;
    private waiting: (() => void)[] = [];
    private nextStart = 0;
    /** Attempts made, retries included (for logs and tests). */
    attempts = 0;
    retries = 0;

    constructor(readonly endpoint: HttpEndpoint) {
        if (!/^https?:\/\//.test(endpoint.url)) throw new Error(`server url must start with http:// or https://, got "${endpoint.url}"`);
    }

    get chatUrl(): string {
        return `${this.endpoint.url.replace(/\/+$/, "")}/chat/completions`;
    }

    private async slot(): Promise<void> {
        while (this.inFlight >= this.endpoint.concurrency) await new Promise<void>((r) => this.waiting.push(r));
        this.inFlight++;
        const rpm = this.endpoint.requestsPerMinute;
        if (rpm) {
            const now = Date.now();
            const at = Math.max(now, this.nextStart);
            this.nextStart = at + 60_000 / rpm;
            if (at > now) await sleep(at - now);
        }
    }

    private release(): void {
        this.inFlight--;
        this.waiting.shift()?.();
    }

    private async once(req: ChatRequest, signal?: AbortSignal): Promise<ChatResult> {
        this.attempts++;
        const timeout = AbortSignal.timeout(this.endpoint.timeoutMs);
        let res: Response;
        try {
            res = await fetch(this.chatUrl, {
                method: "POST",
                headers: { "content-type": "application/json", ...(this.endpoint.apiKey ? { authorization: `Bearer ${this.endpoint.apiKey}` } : {}) },
                body: JSON.stringify({ model: this.endpoint.model, ...req }),
                signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
            });
        } catch (e) {
            if (signal?.aborted) throw new Interrupted("requests to the server");
            const cause = (e as { cause?: { code?: string; message?: string } }).cause;
            const why = timeout.aborted ? `no answer in ${this.endpoint.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (e as Error).message);
            throw new HttpError(`${this.chatUrl}: ${why}`, true);
        }
        let text: string;
        try {
            text = await res.text();
        } catch (e) {
            throw new HttpError(`${this.chatUrl}: connection dropped while reading the answer (${(e as Error).message})`, true);
        }
        if (!res.ok) {
            const retryAfter = Number(res.headers.get("retry-after"));
            let detail = text.slice(0, 300);
            try {
                detail = JSON.parse(text)?.error?.message ?? detail;
            } catch {
                // not JSON: keep the text
            }
            const retryable = res.status === 429 || res.status >= 500;
            throw new HttpError(
                `${this.chatUrl}: HTTP ${res.status}${detail ? `: ${detail}` : ""}`,
                retryable,
                Number.isFinite(retryAfter) && res.headers.has("retry-after") ? retryAfter * 1000 : null,
            );
        }
        let body: {
            choices?: {
                message?: { content?: string };
                finish_reason?: string;
                logprobs?: { content?: { token: string; logprob: number; top_logprobs?: { token: string; logprob: number }[] }[] };
            }[];
        };
        try {
            body = JSON.parse(text);
        } catch {
            throw new HttpError(`${this.chatUrl}: the answer is not JSON: ${text.slice(0, 120)}`, false);
        }
        const choice = body.choices?.[0];
        if (!choice || typeof choice.message?.content !== "string") throw new HttpError(`${this.chatUrl}: the answer has no choices[0].message.content`, false);
        const lp = choice.logprobs?.content;
        return {
            text: choice.message.content,
            finishReason: choice.finish_reason ?? null,
            tokens: lp ? lp.map((t) => ({ token: t.token, logprob: t.logprob, top: t.top_logprobs ?? [] })) : null,
        };
    }

    /** One chat completion, retried as configured; throws naming the URL and the last failure. */
    async chat(req: ChatRequest, signal?: AbortSignal): Promise<ChatResult> {
        let last: HttpError | undefined;
        for (let attempt = 0; attempt <= this.endpoint.maxRetries; attempt++) {
            if (attempt > 0) {
                this.retries++;
                await sleep(last?.retryAfterMs ?? this.endpoint.retryBaseMs * 2 ** (attempt - 1), signal);
            }
            if (signal?.aborted) throw new Interrupted("requests to the server");
            await this.slot();
            try {
                return await this.once(req, signal);
            } catch (e) {
                if (!(e instanceof HttpError)) throw e;
                last = e;
                if (!e.retryable) throw new Error(e.message);
            } finally {
                this.release();
            }
        }
        throw new Error(`${last!.message} (gave up after ${this.endpoint.maxRetries + 1} tries; is the server running at ${this.endpoint.url}?)`);
    }
}

export interface HttpGenerateJob extends RowsRequest {
    endpoint: HttpEndpoint;
    out: string;
    signal?: AbortSignal;
}

/**
 * Teacher generation through the server: every row gets the seed rowSeed(seed, i) (llama-server and vLLM
 * honour it), is appended to `out` as it finishes, and a rerun generates only the missing rows. Rows have
 * no token ids (the server's tokenizer is not ours); `probs` holds the server's per-token probabilities
 * when it returns logprobs.
 */
export async function generateHttp(job: HttpGenerateJob): Promise<{ rows: RawRow[]; generated: number; interrupted: boolean; retries: number }> {
    const res = await generateRows(httpSource(job.endpoint), job, job.out, job.signal);
    return { rows: res.rows, generated: res.generated, interrupted: res.interrupted, retries: res.retries ?? 0 };
}

/** An OpenAI-compatible server as a row source (see generateHttp); `concurrency` requests at a time. */
export function httpSource(endpoint: HttpEndpoint): RowSource {
    return {
        generate: async (req, sink, signal) => {
            const client = new OpenAIClient(endpoint);
            const todo = sink.missing();
            let failure: unknown = null;
            let tokens = 0;
            let next = 0;
            const worker = async () => {
                while (next < todo.length && !signal?.aborted && failure === null) {
                    const i = todo[next++]!;
                    const prompt = req.prompts[Math.floor(i / req.samplesPerPrompt)]!;
                    const messages: ChatMessage[] = [
                        ...(req.system ? [{ role: "system" as const, content: req.system }] : []),
                        { role: "user", content: prompt },
                    ];
                    try {
                        const r = await client.chat(
                            { messages, temperature: req.temperature, max_tokens: req.maxTokens, seed: rowSeed(req.seed, i), logprobs: true },
                            signal,
                        );
                        const row: RawRow = {
                            i,
                            prompt,
                            system: req.system,
                            completion: r.text,
                            tokens: [],
                            probs: r.tokens ? r.tokens.map((t) => Math.exp(t.logprob)) : [],
                            stop: r.finishReason === "length" ? "length" : "eog",
                        };
                        tokens += row.probs.length;
                        sink.append(row);
                    } catch (e) {
                        if (!(e instanceof Interrupted)) failure ??= e;
                    }
                }
            };
            await Promise.all(Array.from({ length: Math.max(1, endpoint.concurrency) }, worker));
            if (failure) throw failure;
            return { tokens, retries: client.retries };
        },
    };
}

/** P(yes) / (P(yes) + P(no)) of the server's first answer token for each question (top logprobs, 20 alternatives). */
export async function judgeHttp(endpoint: HttpEndpoint, questions: string[], signal?: AbortSignal): Promise<number[]> {
    const client = new OpenAIClient(endpoint);
    return Promise.all(
        questions.map(async (q) => {
            const r = await client.chat({ messages: [{ role: "user", content: q }], temperature: 0, max_tokens: 1, logprobs: true, top_logprobs: 20 }, signal);
            const top = r.tokens?.[0]?.top;
            if (!top || top.length === 0) throw new Error(`${client.chatUrl}: the server returned no top_logprobs; a judge needs them`);
            let yes = 0;
            let no = 0;
            for (const t of top) {
                const w = t.token.trim().toLowerCase();
                if (w === "yes") yes += Math.exp(t.logprob);
                if (w === "no") no += Math.exp(t.logprob);
            }
            return yesShare(yes, no);
        }),
    );
}
