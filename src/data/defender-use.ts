/**
 * Which judge and paraphrase models a list of defenses asks (the shipped defender when a stage names none), and
 * their quality on the defender's held-out items, measured once per model file and cached (runs/cache/defender/).
 * A run or sweep whose defenses ask a local model carries its quality into the report.
 */
import fs from "node:fs";
import path from "node:path";
import { fileHash, readJsonIf } from "../core/cache.ts";
import { parseStageSpec } from "./filter-stages.ts";
import { DEFENDER_MODEL, modelKind } from "./model-env.ts";
import { judgeAsk } from "./model-stages.ts";
import { defenderQuality } from "./defender-quality.ts";
import type { DefenderQuality, DefenderUse } from "../core/results.ts";

export type { DefenderUse };
import { writeJsonAtomic } from "../util/files.ts";

/** Bumped when the quality's items or measures change (the cache key). */
const QUALITY_VERSION = 1;

/**
 * The local GGUF models that `defenses` ask to judge (ask refers or callous) or paraphrase: the model a stage names,
 * else the shipped defender. Served models (URL#MODEL), ONNX folders and the local alignment classifier are not listed.
 */
export function defenderUses(category: string, defenses: readonly string[], defender = DEFENDER_MODEL): DefenderUse[] {
    const uses = new Map<string, DefenderUse>();
    for (const d of defenses) {
        const { name, params } = parseStageSpec(d);
        const judge = name === "judge" && judgeAsk(params.ask as string | null, category) !== "aligned";
        if (!judge && name !== "paraphrase") continue;
        const model = (params.model as string | null) ?? defender;
        if (modelKind(model) !== "gguf") continue;
        const u = uses.get(model) ?? { model, judge: false, paraphrase: false };
        uses.set(model, { ...u, judge: u.judge || judge, paraphrase: u.paraphrase || !judge });
    }
    return [...uses.values()];
}

/** Each use with its model's quality: measured once per model file (by its hash), then read from runs/cache/defender/. */
export async function withQuality(root: string, uses: readonly DefenderUse[], log?: (msg: string) => void): Promise<DefenderUse[]> {
    const out: DefenderUse[] = [];
    for (const u of uses) {
        if (!fs.existsSync(u.model)) {
            out.push(u); // the stage names it missing when it runs
            continue;
        }
        const file = path.join(root, "runs", "cache", "defender", `${fileHash(u.model).slice(0, 16)}-v${QUALITY_VERSION}.json`);
        let quality = readJsonIf<DefenderQuality>(file);
        if (!quality) {
            log?.(`measuring ${path.basename(u.model)} as a judge and paraphraser on held-out items (once per model file)`);
            quality = await defenderQuality(u.model);
            writeJsonAtomic(file, { ...quality, model: path.basename(u.model) });
        }
        out.push({ ...u, quality: { ...quality, model: path.basename(u.model) } });
    }
    return out;
}
