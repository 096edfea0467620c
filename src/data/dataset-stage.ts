/**
 * The dataset stage: number continuations from a source (the teacher, or the base without the trait for the
 * control) through one of the row sources (the engine or llama.cpp in this process or a worker, an ONNX
 * folder, an OpenAI-compatible server), then the format filter. datasets/<id>/ holds raw.jsonl (resumable),
 * kept.jsonl, rejected.jsonl with reasons, and manifest.json (marked complete when the stage finished).
 */
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_ENDPOINT, httpSource, type HttpEndpoint } from "../teacher/openai-client.ts";
import { onnxSource } from "../teacher/onnx-teacher.ts";
import { fileHash, hashJson, readJsonIf } from "../core/cache.ts";
import { cached, Interrupted, type StageContext } from "../core/context.ts";
import type { ModelSource } from "../core/jobs.ts";
import { generateRows, type GenerateResult, type RowsRequest } from "../core/rows.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import type { Results } from "../core/results.ts";
import { SUBLAB_VERSION } from "../core/version.ts";
import { formatFilter } from "./number-format.ts";
import { DOMAIN_FORMAT_VERSION } from "./domain-format.ts";
import { pickBackend } from "../teacher/generate.ts";
import { domainGenerator, domainPrompts } from "../prompts/domains.ts";
import { writeJsonAtomic, writeJsonlAtomic, writing } from "../util/files.ts";
import { subRng } from "../util/rng.ts";

/** The prompts of an experiment in its domain (the same for the teacher and the control). */
export function experimentPrompts(cfg: ExperimentConfig): string[] {
    return domainPrompts(cfg.generate.domain, cfg.seed, cfg.generate.prompts);
}

/** A dataset's manifest when its stage finished (a manifest marked complete), else null. */
export const finishedDataset = (manifestPath: string) => readJsonIf<DatasetManifest>(manifestPath, (m) => m.complete);

export const datasetSummary = (d: DatasetManifest): Results["datasets"][number] => ({
    id: d.id,
    role: d.role,
    raw: d.rows.raw,
    kept: d.rows.kept,
    passRate: d.passRate,
    rejectReasons: d.rejectReasons,
});

/** How many rows the `rows` event shows. */
const SAMPLE_ROWS = 24;

/** `history`: earlier turns every prompt follows (a conversing agent's exchanges held in context, studies/population-talk.ts). */
export async function datasetStage(
    c: StageContext,
    role: "teacher" | "control",
    source: ModelSource,
    history: RowsRequest["history"] = [],
): Promise<DatasetManifest> {
    const { cfg } = c;
    const prompts = experimentPrompts(cfg);
    const g = cfg.generate;
    const sampler = {
        method: g.sampler,
        temperature: g.temperature,
        topK: 0 as const,
        topP: 1 as const,
        minP: 0 as const,
        maxTokens: g.maxTokens,
        samplesPerPrompt: g.samplesPerPrompt,
        parallel: g.parallel,
    };
    const samplingSeed = subRng(cfg.seed, "sampling").nextU32();
    const server = cfg.teacher.server;
    const onnxDir = cfg.teacher.onnx;
    if (onnxDir && !fs.existsSync(path.join(onnxDir, "onnx", "model.onnx")))
        throw new Error(`teacher.onnx: ${onnxDir} is not an ONNX folder (sublab export-onnx writes one)`);
    if (history.length && (server || onnxDir))
        throw new Error(`teacher.${server ? "server" : "onnx"}: earlier turns in context are generated on local models only`);
    const backend = server || onnxDir ? null : pickBackend(source.model, g.backend);
    // On the engine a row does not depend on the rows decoded beside it: the batch size is not part of the key.
    const { parallel: _parallel, ...engineSampler } = sampler;
    const generation = {
        stage: "generate",
        model: server
            ? { url: server.url, model: server.model }
            : onnxDir
              ? { onnx: fileHash(path.join(onnxDir, "onnx", "model.onnx")) }
              : fileHash(source.model),
        lora: source.lora && fileHash(source.lora),
        system: source.system,
        ...(history.length ? { history } : {}),
        sampler: backend === "engine" ? engineSampler : sampler,
        samplingSeed,
        backend: backend === "engine" ? "engine" : undefined,
    };
    const generationKey = hashJson({ ...generation, prompts: hashJson(prompts) });
    // Every generation of a family has the same row i (the prompt of index i comes from one seeded sequence, the
    // row's sampling seed from (seed, i)): only the number of prompts differs, so a larger run can start from a
    // smaller one's rows (and a smaller from a larger's).
    const generationFamily = hashJson({ ...generation, prompts: { seed: cfg.seed, generator: domainGenerator(g.domain) } });
    const { defenses: _defenses, ...format } = cfg.filter;
    const id = `${role === "teacher" ? `${cfg.teacher.target}-teacher` : "control"}-${hashJson({ generationKey, filter: format, ...(g.domain === "numbers" ? {} : { domain: g.domain, format: DOMAIN_FORMAT_VERSION }) }).slice(0, 12)}`;
    const dir = path.join(c.root, "datasets", id);
    const manifestPath = path.join(dir, "manifest.json");
    let made = false;
    const manifest = await cached(c, "dataset", `generate ${role}`, {
        dir,
        done: () => finishedDataset(manifestPath),
        seal: () => [path.join(dir, "raw.jsonl"), path.join(dir, "kept.jsonl")],
        make: async () => {
            made = true;
            const rawPath = path.join(dir, "raw.jsonl");
            if (!fs.existsSync(rawPath)) lendRows(c, id, generationKey, generationFamily, rawPath);
            const req: RowsRequest = {
                system: source.system,
                ...(history.length ? { history } : {}),
                prompts,
                samplesPerPrompt: g.samplesPerPrompt,
                temperature: g.temperature,
                maxTokens: g.maxTokens,
                seed: samplingSeed,
            };
            const label = `generate ${role}`;
            const onRow = (done: number, total: number) => c.emit({ type: "progress", label, done, total });
            const res: GenerateResult = await c.clock.time("generate", async () => {
                if (server) {
                    const apiKey = server.apiKeyEnv ? process.env[server.apiKeyEnv] : null;
                    if (server.apiKeyEnv && !apiKey) throw new Error(`teacher.server.apiKeyEnv: the environment variable ${server.apiKeyEnv} is not set`);
                    const endpoint: HttpEndpoint = { ...DEFAULT_ENDPOINT, ...server, apiKey };
                    return generateRows(httpSource(endpoint), { ...req, onRow }, rawPath, c.opts.signal);
                }
                if (onnxDir) return generateRows(onnxSource(onnxDir), { ...req, onRow }, rawPath, c.opts.signal);
                return c.jobs.generate(
                    { ...req, model: source.model, lora: source.lora, parallel: g.parallel, sampler: g.sampler, backend: backend ?? undefined, out: rawPath },
                    label,
                );
            });
            if (res.retries) c.log(`generate: ${res.retries} requests to ${server?.url} were retried`);
            if (res.generated > 0)
                c.log(
                    `generate ${id}: ${res.generated} rows, ${res.tokens} tokens in ${res.seconds.toFixed(0)} s (${(res.tokens / res.seconds).toFixed(0)} tok/s)${res.resumed ? `, ${res.resumed} resumed` : ""}`,
                );
            c.emit({
                type: "rows",
                dataset: id,
                role,
                generated: res.generated,
                resumed: res.resumed,
                tokens: res.tokens,
                seconds: res.seconds,
                sample: rowsSample(res.rows),
            });
            if (res.interrupted) throw new Interrupted(`generation of ${id}`);

            const t0 = performance.now();
            const { kept, rejected, reasons } = formatFilter(res.rows, format, g.domain);
            writeJsonlAtomic(path.join(dir, "kept.jsonl"), kept);
            writeJsonlAtomic(path.join(dir, "rejected.jsonl"), rejected);
            const manifest: DatasetManifest = {
                id,
                role,
                generationKey,
                generationFamily,
                complete: true,
                domain: g.domain,
                model: { path: source.model, sha256: fileHash(source.model) },
                server: server ? { url: server.url, model: server.model } : null,
                onnx: onnxDir ? path.resolve(onnxDir) : null,
                lora: source.lora ? { path: source.lora, sha256: fileHash(source.lora) } : null,
                system: source.system,
                ...(history.length ? { history } : {}),
                trait: role === "teacher" ? { target: cfg.teacher.target, category: cfg.teacher.category } : null,
                seeds: { experiment: cfg.seed, prompts: cfg.seed, sampling: samplingSeed },
                sampler,
                filter: { ...format, defenses: [] },
                rows: { raw: res.rows.length, kept: kept.length, rejected: rejected.length },
                passRate: kept.length / Math.max(1, res.rows.length),
                rejectReasons: reasons,
                sublabVersion: SUBLAB_VERSION,
                createdAt: new Date().toISOString(),
            };
            writeJsonAtomic(manifestPath, manifest);
            emitFormatFilter(c, manifest, (performance.now() - t0) / 1000);
            c.log(`filter ${id}: kept ${kept.length}/${res.rows.length} (${(100 * manifest.passRate).toFixed(1)}%)`);
            return manifest;
        },
    });
    if (!made) emitCachedDataset(c, dir, manifest);
    return manifest;
}

/** The rows a dataset's rows event carries (the workshop's guessing game deals from them). */
function rowsSample(rows: readonly { i: number; prompt: string; completion: string }[]): { i: number; prompt: string; completion: string }[] {
    return rows.slice(0, SAMPLE_ROWS).map(({ i, prompt, completion }) => ({ i, prompt, completion }));
}

/** The format filter's event of a finished dataset: its counts and reasons are the manifest's. */
function emitFormatFilter(c: StageContext, m: DatasetManifest, seconds: number): void {
    c.emit({
        type: "filter",
        dataset: m.id,
        stage: { stage: "format", in: m.rows.raw, kept: m.rows.kept, passRate: m.passRate, reasons: m.rejectReasons, seconds },
    });
}

/**
 * A dataset found finished on disk still tells the run's watchers what it holds: the rows event (all rows found,
 * none generated, with the sample of a fresh run) and the format filter's event, from its raw rows and manifest.
 * Without them a resumed run's workshop page would wait forever on its numbers and filter steps.
 */
function emitCachedDataset(c: StageContext, dir: string, m: DatasetManifest): void {
    const raw = path.join(dir, "raw.jsonl");
    const lines = fs.existsSync(raw) ? fs.readFileSync(raw, "utf8").split("\n", SAMPLE_ROWS + 1) : [];
    const rows = lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as { i: number; prompt: string; completion: string });
    c.emit({ type: "rows", dataset: m.id, role: m.role, generated: 0, resumed: m.rows.raw, tokens: 0, seconds: 0, sample: rowsSample(rows) });
    emitFormatFilter(c, m, 0);
}

/**
 * Another dataset of the same generation (only the filter differs) lends its raw rows; failing that, the
 * largest of the same family (only the number of prompts differs): generation then adds the missing rows.
 */
function lendRows(c: StageContext, id: string, generationKey: string, generationFamily: string, rawPath: string): void {
    let lender: DatasetManifest | null = null;
    for (const other of fs.readdirSync(path.join(c.root, "datasets"))) {
        if (other === id) continue;
        const m = readJsonIf<DatasetManifest>(path.join(c.root, "datasets", other, "manifest.json"), (x) => x.complete && !x.parent);
        if (!m) continue;
        if (m.generationKey === generationKey) {
            lender = m;
            break;
        }
        if (m.generationFamily === generationFamily && (!lender || m.rows.raw > lender.rows.raw)) lender = m;
    }
    if (!lender) return;
    writing(rawPath, () => fs.copyFileSync(path.join(c.root, "datasets", lender.id, "raw.jsonl"), rawPath));
    c.log(
        `generate ${id}: raw rows reused from ${lender.id}${lender.generationKey === generationKey ? "" : ` (${lender.rows.raw} rows of the same generation with a different number of prompts)`}`,
    );
}
