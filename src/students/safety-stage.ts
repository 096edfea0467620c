/**
 * The safety stage (the field's open question: does safety fine-tuning of a recipient remove an inherited
 * trait?): a trained student fine-tuned further on aligned answers to questions the evaluation does not ask
 * (prompts/traits.ts safetyRow; the same rows for every student), cached under runs/cache/safety/<key>/.
 */
import fs from "node:fs";
import path from "node:path";
import { fileHash, hashJson } from "../core/cache.ts";
import { cached, type StageContext } from "../core/context.ts";
import type { SafetyArm } from "../core/results.ts";
import { safetyRow } from "../prompts/traits.ts";
import { writeJsonAtomic } from "../util/files.ts";
import { subRng } from "../util/rng.ts";
import { fmtLoss, type StudentRef } from "./student-stage.ts";

/** The safety fine-tune of a treated or control student: the arm treated+safety or control+safety. */
export async function safetyStage(c: StageContext, ref: StudentRef): Promise<StudentRef> {
    const sf = c.cfg.safety;
    if (!sf) throw new Error("safety: the experiment has no safety section");
    if (ref.lora || c.cfg.student.method !== "full")
        throw new Error(`safety: the safety stage fine-tunes full students (student.method "full"), got "${c.cfg.student.method}"`);
    if (ref.arm !== "treated" && ref.arm !== "control") throw new Error(`safety: only treated and control students get the safety stage, got ${ref.arm}`);
    const arm: SafetyArm = `${ref.arm}+safety`;
    const rng = subRng(c.cfg.seed, "safety-rows");
    const rows = Array.from({ length: sf.rows }, () => safetyRow(rng, c.cfg.teacher.category, c.cfg.teacher.target));
    const recipe = {
        method: "full" as const,
        rank: 0,
        alpha: 0,
        targets: c.cfg.student.targets,
        epochs: sf.epochs,
        lr: sf.lr,
        batchSize: c.cfg.student.batchSize,
        warmupSteps: 0,
        schedule: "constant" as const,
    };
    const seed = subRng(c.cfg.seed, `safety-${ref.seed}`).nextU32();
    const key = hashJson({ stage: "safety", model: fileHash(ref.model), rows: hashJson(rows), recipe, seed }).slice(0, 16);
    const dir = path.join(c.root, "runs", "cache", "safety", key);
    const out = path.join(dir, "model.gguf");
    const label = `${arm} #${ref.seed + 1}`;
    const done = path.join(dir, "done.json");
    await cached(c, "safety", label, {
        dir,
        done: () => (fs.existsSync(done) ? true : null),
        make: async () => {
            const r = await c.jobs.train({ base: ref.model, rows, recipe, seed, dir, out, label });
            writeJsonAtomic(done, { arm, seed: ref.seed, from: ref.model, rows: rows.length, ...r });
            c.emit({
                type: "student",
                label,
                arm,
                seed: ref.seed,
                dataset: ref.dataset.id,
                firstLoss: r.firstLoss,
                finalLoss: r.finalLoss,
                seconds: r.seconds,
                cached: false,
            });
            c.log(`safety ${ref.arm} seed ${ref.seed + 1}: loss ${fmtLoss(r.firstLoss)} -> ${fmtLoss(r.finalLoss)}, ${r.seconds.toFixed(0)} s`);
            return true;
        },
    });
    return { ...ref, arm, model: out, lora: null };
}
