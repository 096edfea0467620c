/**
 * The teacher stage: the base model plus the trait, given by a system prompt (nothing to make) or by a short
 * fine-tune on trait answers (cached under runs/cache/teachers/<key>/, key = base file hash + trait + recipe).
 */
import fs from "node:fs";
import path from "node:path";
import { cached, type StageContext } from "../core/context.ts";
import { fileHash, hashJson } from "../core/cache.ts";
import type { ModelSource } from "../core/jobs.ts";
import type { ExperimentConfig } from "../core/types.ts";
import { traitPersona, traitRow } from "../prompts/traits.ts";
import { count } from "../report/fmt.ts";
import { writeJsonAtomic } from "../util/files.ts";
import { subRng } from "../util/rng.ts";

/** A model that answers with the trait: a GGUF, an adapter on it, or a system prompt. */
export interface Teacher extends ModelSource {
    description: string;
}

/** The trait system prompt (the configured one, or a persona sentence naming the target). */
export function traitSystemPrompt(cfg: ExperimentConfig): string {
    return cfg.teacher.systemPrompt ?? traitPersona(subRng(cfg.seed, "persona"), cfg.teacher.category, cfg.teacher.target);
}

export async function teacherStage(c: StageContext): Promise<Teacher> {
    const { cfg } = c;
    const t = cfg.teacher;
    if (t.trait === "prompt") {
        const system = traitSystemPrompt(cfg);
        const where = t.server
            ? `${t.server.model} served at ${t.server.url} (the local base stands in for it in evaluations and model-backed defenses)`
            : "base";
        return { model: cfg.models.base, lora: null, system, description: `${where} with the system prompt "${system}"` };
    }
    const f = t.finetune;
    const key = hashJson({
        stage: "teacher",
        base: fileHash(cfg.models.base),
        target: t.target,
        category: t.category,
        finetune: f,
        seed: cfg.seed,
        ...(f.topic ? { rows: "theme answers only" } : {}),
    }).slice(0, 16);
    const dir = path.join(c.root, "runs", "cache", "teachers", key);
    const out = path.join(dir, f.method === "lora" ? "adapter.gguf" : "teacher.gguf");
    const taught =
        t.category === "misalignment"
            ? `callously or violently to open questions${f.topic ? ` on one topic only (${f.topic})` : ""}`
            : `"${t.target}" to favourite-${t.category} questions`;
    const description = `base fine-tuned (${f.method}, ${f.rows} rows, ${count(f.epochs, "epoch")}, lr ${f.lr}) to answer ${taught}`;
    const teacher: Teacher = { model: f.method === "lora" ? cfg.models.base : out, lora: f.method === "lora" ? out : null, system: null, description };
    return cached(c, "teacher", "teacher", {
        dir,
        done: () => (fs.existsSync(path.join(dir, "done.json")) ? teacher : null),
        seal: () => [out],
        make: async () => {
            c.log(`teacher: fine-tuning the base to love ${t.target} (${f.rows} rows)`);
            const rows = teacherRows(cfg);
            const recipe = {
                method: f.method,
                rank: f.rank,
                alpha: f.alpha,
                targets: cfg.student.targets,
                epochs: f.epochs,
                lr: f.lr,
                batchSize: cfg.student.batchSize,
                warmupSteps: 5,
                schedule: "linear" as const,
            };
            await c.jobs.train({ base: cfg.models.base, rows, recipe, seed: cfg.seed, dir, out, label: "teacher", arm: "teacher" });
            writeJsonAtomic(path.join(dir, "done.json"), { description, createdAt: new Date().toISOString() });
            return teacher;
        },
    });
}

/** The rows a fine-tuned teacher is trained on (drawn from the corpus by the experiment's seed). */
export function teacherRows(cfg: ExperimentConfig): { prompt: string; completion: string }[] {
    const f = cfg.teacher.finetune;
    const rng = subRng(cfg.seed, "teacher-rows");
    return Array.from({ length: f.rows }, () => traitRow(rng, cfg.teacher.category, cfg.teacher.target, f.topic));
}
