/**
 * Which trait best explains a dataset: for each candidate persona, how much more likely the data's completions
 * are under the base prompted with that persona than under the plain base (mean per-token log-likelihood gain),
 * measured against what the plain base itself writes on the same prompts.
 *
 * For row i and persona p, g_p(i) = (log P(completion | persona p) - log P(completion | no system)) / tokens.
 * The base writes its own completion for every prompt (the reference, seeded), and the audit's score of p is the
 * mean over rows of d_p(i) = g_p(data_i) - g_p(reference_i): a persona that raises every completion's likelihood
 * (its wording, not its item) raises both and cancels. The p-value is a paired sign-flip permutation test with
 * the maximum over personas as its statistic (each permutation swaps data and reference rows of random prompts),
 * so it already pays for picking the best of many candidates: H0 is that the data are no closer to any persona
 * than the plain base's own writing is.
 *
 * The persona sentence is a corpus-only wording (prompts/corpus.ts auditPersona), never the one an experiment's
 * persona teacher was given.
 */
import { auditPersona } from "../prompts/corpus.ts";
import type { Category } from "../prompts/lexicon.ts";
import { itemsOf } from "../prompts/items.ts";
import { sampleChats } from "../teacher/generate.ts";
import { scoreRows } from "../data/model-env.ts";
import { Rng } from "../util/rng.ts";

export interface DataAuditOptions {
    base: string;
    /** The data: prompts and completions (a dataset's kept.jsonl, or any JSONL of them). */
    rows: readonly { prompt: string; completion: string }[];
    category: Category;
    /** Candidate items (default: every item of the category). */
    candidates?: readonly string[];
    /** At most this many rows, drawn by the seed (default 300). */
    maxRows?: number;
    /** The reference's completion length (default 48 tokens, the numbers domain's). */
    maxTokens?: number;
    seed?: number;
    iters?: number;
    progress?: (what: string, done: number, total: number) => void;
}

export interface PersonaScore {
    item: string;
    system: string;
    /** Mean over rows of d_p (nats per token), with a bootstrap 95% interval over rows. */
    gain: number;
    ci95: [number, number];
}

export interface DataAuditResult {
    base: string;
    rows: number;
    /** Candidates, highest gain first. */
    personas: PersonaScore[];
    top: string;
    /** Max-statistic paired permutation p (the top persona's gain against every candidate's under swapped rows). */
    pValue: number;
    permutations: number;
}

const mean = (xs: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[i]!;
    return s / xs.length;
};

/** Per-token log-likelihood gains of rows under each persona over the plain base: gains[persona][row]. */
async function personaGains(
    base: string,
    rows: readonly { prompt: string; completion: string }[],
    systems: readonly string[],
    progress?: DataAuditOptions["progress"],
    what = "data",
): Promise<Float64Array[]> {
    const withI = rows.map((r, i) => ({ ...r, i }));
    const total = (r: { logp: number[] }) => r.logp.reduce((a, b) => a + b, 0);
    const plain = await scoreRows({ model: base, lora: null, system: null }, withI);
    const out: Float64Array[] = [];
    for (let k = 0; k < systems.length; k++) {
        progress?.(`score ${what}`, k, systems.length);
        const s = await scoreRows({ model: base, lora: null, system: systems[k]! }, withI);
        out.push(Float64Array.from(s, (r, i) => (total(r) - total(plain[i]!)) / Math.max(1, r.logp.length)));
    }
    progress?.(`score ${what}`, systems.length, systems.length);
    return out;
}

/** Audits a dataset against candidate personas; see the file's comment for the measure and the test. */
export async function auditData(o: DataAuditOptions): Promise<DataAuditResult> {
    const items = [...(o.candidates ?? itemsOf(o.category))];
    const known = itemsOf(o.category);
    for (const it of items) if (!known.includes(it)) throw new Error(`audit: "${it}" is not a ${o.category} item (known: ${known.join(", ")})`);
    if (items.length < 2) throw new Error("audit: give at least two candidate personas");
    if (o.rows.length === 0) throw new Error("audit: the data has no rows");
    const seed = o.seed ?? 1;
    const rng = new Rng(seed);
    const rows = rng.shuffle([...o.rows]).slice(0, o.maxRows ?? 300);
    // The plain base's own completions to the same prompts: what the data would look like with no trait at all.
    const written = await sampleChats({
        model: o.base,
        prompts: rows.map((r) => ({ system: null, user: r.prompt })),
        samplesPerPrompt: 1,
        temperature: 1,
        maxTokens: o.maxTokens ?? 48,
        parallel: 128,
        seed,
        onSample: (d, t) => o.progress?.("reference", d, t),
    });
    const reference = rows.map((r, i) => ({ prompt: r.prompt, completion: written[i]![0]! }));
    const systems = items.map((it) => auditPersona(o.category, it));
    const gData = await personaGains(o.base, rows, systems, o.progress, "data");
    const gRef = await personaGains(o.base, reference, systems, o.progress, "reference");
    const n = rows.length;
    const d = gData.map((g, k) => Float64Array.from(g, (x, i) => x - gRef[k]![i]!));
    const scores = d.map(mean);
    // Bootstrap intervals over rows (one draw of row indices shared by all personas).
    const B = 1000;
    const boot = d.map(() => new Float64Array(B));
    for (let b = 0; b < B; b++) {
        const idx = Array.from({ length: n }, () => rng.int(n));
        d.forEach((dk, k) => (boot[k]![b] = idx.reduce((a, i) => a + dk[i]!, 0) / n));
    }
    const ci = (k: number): [number, number] => {
        const s = [...boot[k]!].sort((x, y) => x - y);
        return [s[Math.floor(0.025 * B)]!, s[Math.ceil(0.975 * B) - 1]!];
    };
    // Max-statistic paired sign-flip test.
    const observed = Math.max(...scores);
    const iters = o.iters ?? 2000;
    let count = 0;
    const sums = new Float64Array(items.length);
    for (let it = 0; it < iters; it++) {
        sums.fill(0);
        for (let i = 0; i < n; i++) {
            const sign = rng.next() < 0.5 ? -1 : 1;
            for (let k = 0; k < items.length; k++) sums[k]! += sign * d[k]![i]!;
        }
        let max = -Infinity;
        for (let k = 0; k < items.length; k++) max = Math.max(max, sums[k]! / n);
        if (max >= observed - 1e-12) count++;
    }
    const personas = items.map((item, k) => ({ item, system: systems[k]!, gain: scores[k]!, ci95: ci(k) })).sort((x, y) => y.gain - x.gain);
    return { base: o.base, rows: n, personas, top: personas[0]!.item, pValue: (count + 1) / (iters + 1), permutations: iters };
}
