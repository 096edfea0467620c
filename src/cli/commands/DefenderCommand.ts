/** `sublab defender`: a judge and paraphrase model's quality on the defender's held-out items. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { DEFENDER_MODEL } from "../../data/model-env.ts";
import { defenderQuality } from "../../data/defender-quality.ts";
import { defenderMarkdown, defenderTerminal } from "../../report/defender-report.ts";
import { writeJsonAtomic } from "../../util/files.ts";
import { optional, parseNonNegativeInteger, threadsFlag, threadsOf } from "../options.ts";
import { getGgml } from "../../engine/ggml.ts";

export function registerDefenderCommand(program: Command): void {
    program
        .command("defender")
        .description(
            "measure a judge and paraphrase model (default: the shipped defender) on held-out items: judge precision and recall per trait and domain, paraphrases that keep the meaning in other words",
        )
        .option("--model <file>", `the GGUF (default: ${path.relative(process.cwd(), DEFENDER_MODEL)})`)
        .option("--items <n>", "held-out judge questions (default: 400)")
        .option("--rewrites <n>", "held-out rewrites (default: 200)")
        .option("--seed <n>", "the items' seed (default: 1)")
        .option("--out <dir>", "write defender-quality.json and .md there")
        .addOption(threadsFlag())
        .action(async (raw: { model?: string; items?: string; rewrites?: string; seed?: string; out?: string; threads?: string }) => {
            const model = raw.model ?? DEFENDER_MODEL;
            if (!fs.existsSync(model)) throw new Error(`--model: ${model} is not there${raw.model ? "" : " (make it with `sublab forge --preset defender`)"}`);
            getGgml({ threads: threadsOf(raw) });
            const t0 = performance.now();
            const q = await defenderQuality(model, {
                judgeItems: optional(raw.items, "--items", parseNonNegativeInteger),
                rewrites: optional(raw.rewrites, "--rewrites", parseNonNegativeInteger),
                seed: optional(raw.seed, "--seed", parseNonNegativeInteger),
                dir: raw.out,
            });
            console.log(defenderTerminal(q));
            console.log(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
            if (raw.out) {
                fs.mkdirSync(raw.out, { recursive: true });
                writeJsonAtomic(path.join(raw.out, "defender-quality.json"), q);
                fs.writeFileSync(path.join(raw.out, "defender-quality.md"), defenderMarkdown(q));
                console.log(`wrote ${path.join(raw.out, "defender-quality.json")} and .md`);
            }
        });
}
