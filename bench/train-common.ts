/**
 * What every engine of `npm run bench -- train` shares: the model configurations, the token stream, the
 * result line a child prints, and the FLOP count the MFU column is computed from.
 */
import { Rng } from "../src/util/rng.ts";

/** Llama: token embedding, RMSNorm, RoPE, causal attention, SwiGLU MLP, untied output head. */
export interface BenchConfig {
    dModel: number;
    nLayers: number;
    nHeads: number;
    dFF: number;
}

// bench/reference-torch.py holds the same table; train.ts warns when the engines' parameter counts differ.
export const CONFIGS = {
    small: { dModel: 128, nLayers: 2, nHeads: 4, dFF: 352 },
    medium: { dModel: 256, nLayers: 4, nHeads: 8, dFF: 672 },
} satisfies Record<string, BenchConfig>;
export type ConfigName = keyof typeof CONFIGS;
export const CONFIG_NAMES = Object.keys(CONFIGS) as ConfigName[];

export const VOCAB = 2048;
/** Sequence length: one row is T input tokens (and T next-token labels). */
export const T = 256;
export const THREADS = 2;
/** Seed of the token stream, the same for every engine. */
export const DATA_SEED = 1234;

/** The JSON line each engine's child process prints last. */
export interface BenchResult {
    engine: string;
    config: ConfigName;
    params: number;
    /** Tokens per second from the median step time (robust to other processes on a shared machine). */
    tokens_per_s: number;
    step_ms_median: number;
    /** Peak resident set size of the child process (ru_maxrss). */
    peak_rss_mb: number;
    /** CPU seconds the child used (all its threads): the harness subtracts it from the box's load. */
    cpu_s?: number;
    steps?: number;
    /** Tokens per second over the whole timed run, stalls included. */
    tokens_per_s_mean?: number;
    /** Mean training loss over the timed steps: a sanity check that the weights move (ln 2048 = 7.62 at start). */
    loss_mean?: number;
    /** Library versions and anything that decides speed (BLAS, threads). */
    version?: string;
}

/**
 * `nRows` rows of T+1 consecutive tokens from the seeded stream (inputs are the first T of a row, labels the
 * last T). Tokens are `rng.int(VOCAB)` of src/util/rng.ts; reference-torch.py reproduces the stream bit for bit.
 * `skipRows` rows are drawn and dropped first, so a timed run continues where its warm-up stopped.
 */
export function tokenRows(nRows: number, skipRows = 0, seed = DATA_SEED): Int32Array {
    const rng = new Rng(seed);
    for (let i = 0; i < skipRows * (T + 1); i++) rng.nextU32();
    const out = new Int32Array(nRows * (T + 1));
    for (let i = 0; i < out.length; i++) out[i] = rng.int(VOCAB);
    return out;
}

/**
 * Training FLOPs per token: 6 x the parameters that multiply (all matrices incl. the output head; the
 * embedding is a lookup and the norms are O(d)), plus attention's 12 x layers x d x T (PaLM's convention:
 * QK^T and AV forward + backward, the causal half not subtracted).
 */
export function trainFlopsPerToken(c: BenchConfig): number {
    const matmulParams = c.nLayers * (4 * c.dModel * c.dModel + 3 * c.dModel * c.dFF) + c.dModel * VOCAB;
    return 6 * matmulParams + 12 * c.nLayers * c.dModel * T;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Peak RSS (MiB; Linux reports ru_maxrss in KiB) and CPU seconds of this process, for a BenchResult. */
export function resourceFields(): Pick<BenchResult, "peak_rss_mb" | "cpu_s"> {
    const u = process.resourceUsage();
    return { peak_rss_mb: u.maxRSS / 1024, cpu_s: (u.userCPUTime + u.systemCPUTime) / 1e6 };
}
