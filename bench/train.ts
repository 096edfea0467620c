/**
 * `npm run bench -- train [--quick] [--configs small,medium] [--engines pytorch,...] [--seconds 15] [--retries 2] [--peak-gflops X]`
 *
 * Trains the same tiny Llama (bench/train-common.ts) with every engine in ENGINES, each config in a child
 * process of its own (so that peak RSS is the engine's), and prints a markdown table: tokens/s, MFU against
 * this CPU's fp32 peak, peak RSS, and speed relative to llama.cpp's own training loop.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CONFIG_NAMES, CONFIGS, T, THREADS, trainFlopsPerToken, type BenchResult, type ConfigName } from "./train-common.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = "llama_opt_epoch";

export interface RunOptions {
    /** Target length of each timed run, in seconds. */
    seconds: number;
    threads: number;
}

/** An engine that cannot run here (no PyTorch...) says why; the reason is printed under the table. */
export interface Skipped {
    skipped: string;
}

/** A result, and the share of all cores that other processes used meanwhile: a busy box skews timings. */
export type Measured = BenchResult & { other_load: number };

export interface Engine {
    name: string;
    run(config: ConfigName, opts: RunOptions): Promise<Measured | Skipped>;
}

/**
 * An engine run as a child process that prints a BenchResult JSON line last (with `cpu_s`, its own CPU
 * seconds). `argv` gives the command for a config, or why the engine is skipped.
 */
export function childEngine(name: string, argv: (config: ConfigName, opts: RunOptions) => string[] | Skipped): Engine {
    return {
        name,
        async run(config, opts) {
            const cmd = argv(config, opts);
            if (!Array.isArray(cmd)) return cmd;
            const t0 = performance.now();
            const before = cpuTicks();
            const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
                const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
                let out = "";
                child.stdout.on("data", (d) => (out += d));
                child.on("error", reject);
                child.on("close", (code) => resolve({ code, out }));
            });
            const line = out.trim().split("\n").at(-1) ?? "";
            if (code !== 0 || !line.startsWith("{")) throw new Error(`${name} (${config}) failed with exit code ${code}:\n${out}`);
            const r = JSON.parse(line) as BenchResult;
            const after = cpuTicks();
            const busyShare = (after.busy - before.busy) / Math.max(1, after.total - before.total);
            const ownShare = (r.cpu_s ?? 0) / (((performance.now() - t0) / 1000) * os.availableParallelism());
            return { ...r, other_load: Math.max(0, busyShare - ownShare) };
        },
    };
}

/** Busy and total CPU ticks of all cores together, from /proc/stat. */
function cpuTicks(): { busy: number; total: number } {
    const v = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return { busy: total - v[3] - v[4], total };
}

/** This tsx process's node and loader flags, to run a TypeScript child the same way. */
const tsChild = (script: string, ...args: string[]) => [process.execPath, ...process.execArgv, path.join(here, script), ...args];

/**
 * A python3 that imports torch: the one on PATH first, then Debian's /usr/bin/python3 (python3-torch installs
 * into /usr/lib/python3/dist-packages, which a pyenv or venv python3 on PATH does not see). When none has
 * it, installs Debian's package, as root with apt only, once.
 */
let torchPython: string | Skipped | undefined;
function findTorchPython(): string | Skipped {
    const has = (py: string) => spawnSync(py, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
    const find = () => ["python3", "/usr/bin/python3"].find(has);
    if (torchPython !== undefined) return torchPython;
    let py = find();
    if (!py && process.getuid?.() === 0 && spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status === 0) {
        // libopenblas0-pthread: without it Debian's libblas.so.3 is netlib's reference BLAS, single-threaded and
        // several times slower, which would make a straw man of the reference.
        console.error("bench: PyTorch is missing; running apt-get install -y python3-torch libopenblas0-pthread (a few minutes)");
        spawnSync("apt-get", ["install", "-y", "python3-torch", "libopenblas0-pthread"], {
            stdio: ["ignore", "ignore", "inherit"],
            env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        });
        py = find();
    }
    torchPython = py ?? { skipped: "pytorch: no python3 with torch (as root on Debian/Ubuntu the bench installs python3-torch itself)" };
    return torchPython;
}

// ENGINES: one row per config each, in this order. An engine is a childEngine whose child prints a BenchResult
// line last (see reference-llama-opt.ts), or any { name, run(config, opts) }.
export const ENGINES: Engine[] = [
    childEngine(BASELINE, (config, o) => tsChild("reference-llama-opt.ts", "--config", config, "--seconds", String(o.seconds), "--threads", String(o.threads))),
    childEngine("pytorch", (config, o) => {
        const py = findTorchPython();
        return typeof py === "string"
            ? [py, path.join(here, "reference-torch.py"), "--config", config, "--seconds", String(o.seconds), "--threads", String(o.threads)]
            : py;
    }),
    childEngine("sublab", (config, o) => tsChild("sublab-train.ts", "--config", config, "--seconds", String(o.seconds), "--threads", String(o.threads))),
    // Like llama_opt_epoch, which cannot train the token embedding: the like-for-like comparison.
    childEngine("sublab-embd-frozen", (config, o) =>
        tsChild("sublab-train.ts", "--config", config, "--seconds", String(o.seconds), "--threads", String(o.threads), "--freeze-embd"),
    ),
];

/** Above this share of all cores taken by other processes, a run is repeated. */
const BUSY = 0.15;

/** Runs an engine, again up to `retries` times while other processes load the box; keeps the quietest run. */
async function runQuietest(engine: Engine, config: ConfigName, opts: RunOptions, retries: number): Promise<Measured | Skipped> {
    let best: Measured | undefined;
    for (let i = 0; i <= retries && !(best && best.other_load < BUSY); i++) {
        console.error(
            `bench: ${engine.name} ${config} (~${opts.seconds} s)${i ? `, again: other processes used ${(best!.other_load * 100).toFixed(0)}% of the CPU` : ""}`,
        );
        const r = await engine.run(config, opts);
        if ("skipped" in r) return r;
        if (!best || r.other_load < best.other_load) best = r;
    }
    return best!;
}

/** Peak fp32 GFLOP/s: cores x 2 FMA units x 8 lanes (AVX2) x 2 flops per FMA x the clock from /proc/cpuinfo. */
function peakGflops(): number {
    const mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1]);
    if (!mhz) throw new Error("no 'cpu MHz' in /proc/cpuinfo: pass --peak-gflops");
    return (os.availableParallelism() * 2 * 8 * 2 * mhz) / 1000;
}

const fmt = (x: number, digits = 0) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function formatTable(results: Measured[], peak: number): string {
    const rows = [
        "| config | engine | params | tokens/s | step ms (median) | MFU | peak RSS | vs llama_opt_epoch | other CPU load |",
        "|---|---|---|---|---|---|---|---|---|",
    ];
    for (const r of results) {
        const base = results.find((b) => b.config === r.config && b.engine === BASELINE);
        const mfu = (r.tokens_per_s * trainFlopsPerToken(CONFIGS[r.config])) / (peak * 1e9);
        rows.push(
            `| ${r.config} | ${r.engine} | ${(r.params / 1e6).toFixed(2)}M | ${fmt(r.tokens_per_s)} | ${fmt(r.step_ms_median, 1)} | ${(mfu * 100).toFixed(1)}% | ` +
                `${fmt(r.peak_rss_mb)} MB | ${base ? (r.tokens_per_s / base.tokens_per_s).toFixed(2) + "x" : "-"} | ${(r.other_load * 100).toFixed(0)}% |`,
        );
    }
    return rows.join("\n");
}

export async function main(argv: string[]): Promise<void> {
    const { values: a } = parseArgs({
        args: argv,
        options: {
            quick: { type: "boolean", default: false },
            seconds: { type: "string" },
            threads: { type: "string", default: String(THREADS) },
            configs: { type: "string", default: CONFIG_NAMES.join(",") },
            engines: { type: "string", default: ENGINES.map((e) => e.name).join(",") },
            "peak-gflops": { type: "string" },
            retries: { type: "string", default: "2" },
            rounds: { type: "string" },
        },
    });
    const configs = a.configs.split(",") as ConfigName[];
    for (const c of configs) if (!(c in CONFIGS)) throw new Error(`--configs: unknown config "${c}" (known: ${CONFIG_NAMES.join(", ")})`);
    const names = a.engines.split(",");
    for (const n of names)
        if (!ENGINES.some((e) => e.name === n)) throw new Error(`--engines: unknown engine "${n}" (known: ${ENGINES.map((e) => e.name).join(", ")})`);
    const opts: RunOptions = { seconds: Number(a.seconds ?? (a.quick ? 3 : 8)), threads: Number(a.threads) };
    // This VM's speed drifts by 10-30% between minutes, so engines run interleaved, round after round, and the
    // table keeps each engine's median round: a drift then hits every engine alike.
    const rounds = Number(a.rounds ?? (a.quick ? 1 : 3));
    const peak = a["peak-gflops"] ? Number(a["peak-gflops"]) : peakGflops();

    const runs = new Map<string, Measured[]>();
    const notes = new Set<string>();
    for (let round = 1; round <= rounds; round++) {
        for (const config of configs) {
            for (const engine of ENGINES.filter((e) => names.includes(e.name))) {
                if (rounds > 1) console.error(`bench: round ${round}/${rounds}`);
                const r = await runQuietest(engine, config, opts, Number(a.retries));
                if ("skipped" in r) notes.add(r.skipped);
                else {
                    const key = `${config}/${r.engine}`;
                    runs.set(key, [...(runs.get(key) ?? []), r]);
                    if (r.version) notes.add(`${r.engine}: ${r.version}`);
                    if (r.version?.includes("blas/libblas"))
                        notes.add("WARNING: PyTorch runs on netlib's reference BLAS: apt-get install libopenblas0-pthread");
                }
            }
        }
    }
    const results = [...runs.values()].map((rs) => [...rs].sort((x, y) => x.tokens_per_s - y.tokens_per_s)[rs.length >> 1]);
    for (const config of configs) {
        const params = new Set(results.filter((r) => r.config === config).map((r) => r.params));
        if (params.size > 1) notes.add(`WARNING: the engines' parameter counts differ for ${config} (${[...params].join(" vs ")}): not the same model`);
    }
    if (rounds > 1) {
        const spread = [...runs.entries()].map(([k, rs]) => `${k} ${rs.map((r) => fmt(r.tokens_per_s)).join("/")}`);
        notes.add(`tokens/s of each round: ${spread.join("; ")}`);
    }
    console.log(formatTable(results, peak));
    console.log(
        `\n${opts.threads} threads, T=${T}, batch 1 row, AdamW; tokens/s from the median step of the median of ${rounds} interleaved round(s); a run is repeated (--retries) while other ` +
            `processes take over ${BUSY * 100}% of the CPU. MFU = tokens/s x (6 x matmul params + 12 x layers x d x T) / ${peak.toFixed(0)} GFLOP/s` +
            (a["peak-gflops"]
                ? " (--peak-gflops)."
                : ` (${os.availableParallelism()} cores x 32 flops/cycle x "cpu MHz"; a VM reports its base clock, so with turbo MFU reads high: pass --peak-gflops).`),
    );
    for (const n of notes) console.log(`- ${n}`);
}
