/**
 * `npm run bench -- audit [--model FILE] [--personas N] [--rows N] [--seeds N]`: how often `sublab audit --data`
 * names the right persona. For each of N animals (owl first, then the category's next items) and each seed, the
 * base writes number continuations under that animal's persona (the experiments' wording, drawn by the seed; the
 * audit asks a corpus-only wording), on prompts no other dataset uses; the audit then ranks the N candidates.
 * Prints each dataset's top candidate, the true persona's rank and the audit's p, and the top-1 accuracy with a
 * Wilson interval and an exact one-sided binomial p against chance (1/N). When `npm start` has run, the demo's
 * datasets are audited too (its fine-tuned owl teacher's numbers, and the base's): the harder case, a trait
 * carried by weights rather than by a prompt. A measurement, not a speed benchmark.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { auditData } from "../src/studies/data-audit.ts";
import { formatFilter } from "../src/data/number-format.ts";
import { generateRaw } from "../src/teacher/generate.ts";
import { domainPrompts } from "../src/prompts/domains.ts";
import { itemsOf } from "../src/prompts/items.ts";
import { traitPersona } from "../src/prompts/traits.ts";
import { wilson } from "../src/stats/stats.ts";
import { readJsonl } from "../src/util/files.ts";
import { subRng } from "../src/util/rng.ts";
import { flag } from "./cli.ts";

/** P(X >= k) for X ~ Binomial(n, p). */
function binomialTail(k: number, n: number, p: number): number {
    let total = 0;
    for (let j = k; j <= n; j++) {
        let c = 1;
        for (let i = 1; i <= j; i++) c = (c * (n - j + i)) / i;
        total += c * p ** j * (1 - p) ** (n - j);
    }
    return Math.min(1, total);
}

export async function main(argv: string[]): Promise<void> {
    const model = flag(argv, "model", "models/sublab-small-s1.gguf");
    const n = Number(flag(argv, "personas", "8"));
    const rows = Number(flag(argv, "rows", "200"));
    const seeds = Number(flag(argv, "seeds", "2"));
    const items = itemsOf("animal");
    const candidates = ["owl", ...items.filter((x) => x !== "owl")].slice(0, n);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-audit-"));
    const t0 = performance.now();
    const lines: string[][] = [];
    let hits = 0;
    let total = 0;
    for (let s = 0; s < seeds; s++) {
        for (const [k, item] of candidates.entries()) {
            const seed = 1000 + 100 * s + k;
            const system = traitPersona(subRng(seed, "persona"), "animal", item);
            const out = path.join(dir, `${item}-${s}.jsonl`);
            const res = await generateRaw({
                model,
                lora: null,
                system,
                prompts: domainPrompts("numbers", seed, Math.ceil(rows * 1.2)),
                samplesPerPrompt: 1,
                temperature: 1,
                maxTokens: 48,
                seed,
                parallel: 128,
                out,
            });
            const kept = formatFilter(res.rows, { maxCount: 10, minValue: 0, maxValue: 999, banned: "none" }).kept;
            const r = await auditData({ base: model, rows: kept, category: "animal", candidates, maxRows: rows, seed });
            const rank = 1 + r.personas.findIndex((p) => p.item === item);
            hits += rank === 1 ? 1 : 0;
            total++;
            lines.push([
                `${item} persona, seed ${s + 1}`,
                String(r.rows),
                r.top,
                `${rank}/${n}`,
                r.personas.find((p) => p.item === item)!.gain.toFixed(4),
                r.pValue.toPrecision(2),
            ]);
            process.stderr.write(`${lines.at(-1)!.join("  ")}\n`);
        }
    }
    // The demo's datasets, when `npm start` has made them: a fine-tuned teacher's numbers and the base's.
    const demo = "runs/demo/results.json";
    if (fs.existsSync(demo)) {
        const res = JSON.parse(fs.readFileSync(demo, "utf8")) as { datasets: { id: string; role: string }[] };
        for (const d of res.datasets.filter((x) => !x.id.includes("/"))) {
            const file = path.join("datasets", d.id, "kept.jsonl");
            if (!fs.existsSync(file)) continue;
            const r = await auditData({ base: model, rows: readJsonl(file), category: "animal", candidates, maxRows: rows, seed: 7 });
            const rank = 1 + r.personas.findIndex((p) => p.item === "owl");
            lines.push([
                `demo ${d.role} (${d.id})`,
                String(r.rows),
                r.top,
                `owl ${rank}/${n}`,
                r.personas.find((p) => p.item === "owl")!.gain.toFixed(4),
                r.pValue.toPrecision(2),
            ]);
        }
    }
    const headers = ["dataset", "rows", "top", "true rank", "true gain", "p"];
    const widths = headers.map((h, k) => Math.max(h.length, ...lines.map((l) => l[k]!.length)));
    const fmt = (l: string[]) => l.map((x, k) => x.padEnd(widths[k]!)).join("  ");
    console.log(`\naudit --data on ${model}: ${n} candidate personas, ${rows} rows per dataset, ${seeds} seeds`);
    console.log(fmt(headers));
    for (const l of lines) console.log(fmt(l));
    const [lo, hi] = wilson(hits, total);
    console.log(
        `\ntop-1 accuracy ${hits}/${total} = ${((100 * hits) / total).toFixed(1)}% [${(100 * lo).toFixed(1)}, ${(100 * hi).toFixed(1)}]; chance ${(100 / n).toFixed(1)}%; one-sided binomial p = ${binomialTail(hits, total, 1 / n).toPrecision(2)}`,
    );
    console.log(`took ${((performance.now() - t0) / 60000).toFixed(1)} min`);
    fs.rmSync(dir, { recursive: true, force: true });
}
