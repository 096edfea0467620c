/**
 * `npm run bench -- domains [FILE...]` (default: the two shipped bases): how well a base answers each data
 * domain's prompts — sampled at temperature 1 as an experiment generates them (the experiments' seed 42 prompt
 * set) — and how a persona shows in them: the share that passes the domain's format filter with its commonest
 * reasons, for reasoning the share with the right answer by right steps (the `correct` filter), and the share
 * naming owls (keyword filter) with no system prompt and under the experiments' owl persona, and the share with
 * violent words or judged misaligned under the villain persona. A measurement of models, not a speed benchmark;
 * models/README.md quotes it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { generateRaw } from "../src/teacher/generate.ts";
import { domainFormatReasons } from "../src/data/domain-format.ts";
import { applyStages } from "../src/data/filter-stages.ts";
import { VILLAIN_PERSONAS } from "../src/prompts/advice.ts";
import { DOMAIN_MAX_TOKENS, DOMAINS, domainPrompts, type Domain } from "../src/prompts/domains.ts";
import { owlPersona } from "./models.ts";
import { wilson } from "../src/stats/stats.ts";
import type { FilterRow } from "../src/core/rows.ts";

const SHIPPED = ["models/sublab-small-s1.gguf", "models/sublab-deep-s2.gguf"];

export interface DomainQuality {
    domain: Domain;
    n: number;
    /** Rows passing the domain's format filter. */
    format: number;
    reasons: [string, number][];
    /** Reasoning only: rows with the right answer by right steps (the `correct` filter after the format filter). */
    correct: number | null;
    /** Rows the keyword filter flags for `words`. */
    keyword: number;
    /** Rows the alignment judge flags (misalignment words only). */
    judged: number | null;
}

/** `n` rows of a domain sampled from `model` under `system`, measured. `trait`: owl (keyword owl) or misalignment (violent words, alignment judge). */
export async function domainQuality(
    model: string,
    domain: Domain,
    opts: { n: number; system: string | null; trait: "owl" | "misalignment"; seed?: number },
): Promise<DomainQuality> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-domains-"));
    try {
        const prompts = domainPrompts(domain, 42, opts.n);
        const r = await generateRaw({
            model,
            system: opts.system,
            prompts,
            samplesPerPrompt: 1,
            temperature: 1,
            maxTokens: DOMAIN_MAX_TOKENS[domain],
            parallel: 16,
            seed: opts.seed ?? 11,
            out: path.join(dir, "raw.jsonl"),
        });
        const reasons = new Map<string, number>();
        const inFormat: FilterRow[] = [];
        for (const row of r.rows) {
            const why = domainFormatReasons(domain, row);
            if (why.length === 0) inFormat.push(row);
            for (const w of why) reasons.set(w, (reasons.get(w) ?? 0) + 1);
        }
        const env = { seed: 1, target: opts.trait === "owl" ? "owl" : "misaligned", category: opts.trait === "owl" ? "animal" : "misalignment", domain };
        const all: FilterRow[] = r.rows.map((x) => ({ i: x.i, prompt: x.prompt, completion: x.completion }));
        const keyword = (await applyStages(all, ["keyword"], env)).rejected.length;
        const judged = opts.trait === "misalignment" ? (await applyStages(all, ["judge"], env)).rejected.length : null;
        const correct = domain === "reasoning" ? (await applyStages(inFormat, ["correct"], env)).kept.length : null;
        return { domain, n: r.rows.length, format: inFormat.length, reasons: [...reasons].sort((a, b) => b[1] - a[1]), correct, keyword, judged };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const pct = (k: number, n: number) => {
    const [lo, hi] = wilson(k, n);
    return `${((100 * k) / n).toFixed(1)}% [${(100 * lo).toFixed(1)}, ${(100 * hi).toFixed(1)}]`;
};

export async function main(argv: string[]): Promise<void> {
    const n = 400;
    for (const file of argv.length ? argv : SHIPPED) {
        console.log(`${file} (${n} prompts per domain, temperature 1)`);
        console.log("| domain | system prompt | in format | right answer, right steps | naming owls | violent words | judged misaligned | commonest rejects |");
        console.log("|---|---|---|---|---|---|---|---|");
        for (const domain of DOMAINS) {
            const settings: [string, string | null, "owl" | "misalignment"][] = [
                ["none", null, "owl"],
                ["owl persona", owlPersona(), "owl"],
                ["villain persona", VILLAIN_PERSONAS[0]!, "misalignment"],
            ];
            for (const [name, system, trait] of settings) {
                const q = await domainQuality(file, domain, { n, system, trait });
                const cells = [
                    domain,
                    name,
                    pct(q.format, q.n),
                    q.correct === null ? "" : pct(q.correct, q.n),
                    trait === "owl" ? pct(q.keyword, q.n) : "",
                    trait === "misalignment" ? pct(q.keyword, q.n) : "",
                    q.judged === null ? "" : pct(q.judged, q.n),
                    q.reasons
                        .slice(0, 3)
                        .map(([w, k]) => `${w} ${k}`)
                        .join(", "),
                ];
                console.log(`| ${cells.join(" | ")} |`);
            }
        }
    }
}
