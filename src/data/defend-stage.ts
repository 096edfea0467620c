/**
 * The defense stage: the filter and defense stages of `defenses` applied, in order, to a dataset's kept rows
 * (datasets/<parent>-d<hash>/ with kept.jsonl, rejected.jsonl naming the stage and reasons, and a manifest with
 * each stage's pass rate). The model-backed stages score with the dataset's own source as the teacher and
 * `models.base` as the base; the random stages use one seed for every dataset, so the teacher's and the
 * control's rows are shuffled alike.
 */
import fs from "node:fs";
import path from "node:path";
import { cachedPath, fileHash, hashJson } from "../core/cache.ts";
import { cached, type StageContext } from "../core/context.ts";
import type { DatasetManifest, ExperimentConfig } from "../core/types.ts";
import { SUBLAB_VERSION } from "../core/version.ts";
import { applyStages, countReasons, STAGES_VERSION } from "./filter-stages.ts";
import { defenderUses } from "./defender-use.ts";
import { DEFENDER_MODEL, modelEnv } from "./model-env.ts";
import { writeJsonAtomic, writeJsonlAtomic } from "../util/files.ts";
import { subRng } from "../util/rng.ts";
import { finishedDataset } from "./dataset-stage.ts";

/**
 * The id of a dataset after `defenses`. The trait is in the key: keyword's and judge's defaults depend on it, and
 * a control dataset is shared by experiments of different traits (an owl run's keyword-filtered control is not a
 * violence run's: before the trait was in the key, a violence run reused an owl run's).
 */
export function defendedId(cfg: ExperimentConfig, parent: string, defenses: readonly string[], seed: number): string {
    const trait = { target: cfg.teacher.target, category: cfg.teacher.category };
    // The defender's file, when a stage asks it by default (a judge asked refers or callous, a paraphrase, with no model=).
    const asksDefender = defenderUses(cfg.teacher.category, defenses).some((u) => u.model === DEFENDER_MODEL);
    const defender = asksDefender && fs.existsSync(DEFENDER_MODEL) ? fileHash(DEFENDER_MODEL) : undefined;
    return `${parent}-d${hashJson({ parent, defenses, base: fileHash(cfg.models.base), defender, seed, trait, version: STAGES_VERSION }).slice(0, 8)}`;
}

export async function defendStage(c: StageContext, ds: DatasetManifest, defenses: readonly string[]): Promise<DatasetManifest> {
    if (defenses.length === 0) return ds;
    const { cfg } = c;
    const seed = subRng(cfg.seed, "defenses").nextU32();
    const id = defendedId(cfg, ds.id, defenses, seed);
    const dir = path.join(c.root, "datasets", id);
    const manifestPath = path.join(dir, "manifest.json");
    return cached(c, "defend", `defend ${ds.id}`, {
        dir,
        done: () => finishedDataset(manifestPath),
        seal: () => [path.join(dir, "kept.jsonl")],
        make: async () => {
            c.log(`defend ${ds.id}: ${defenses.join(" -> ")}`);
            // The generator as found in this checkout (a cache copied from elsewhere keeps the paths it was made with).
            const found = (f: { path: string }) => cachedPath(f.path, c.root) ?? f.path;
            const source = { model: found(ds.model), lora: ds.lora ? found(ds.lora) : null, system: ds.system };
            const env = modelEnv({
                teacher: source,
                base: cfg.models.base,
                seed,
                target: cfg.teacher.target,
                category: cfg.teacher.category,
                domain: cfg.generate.domain,
                workDir: dir,
                threads: c.opts.threads,
                log: c.log,
                memo: c.scores,
                progress: (label, done, total) => c.emit({ type: "progress", label, done, total }),
                signal: c.opts.signal,
            });
            const res = await applyStages(c.kept(ds), defenses, env);
            writeJsonlAtomic(path.join(dir, "kept.jsonl"), res.kept);
            writeJsonlAtomic(
                path.join(dir, "rejected.jsonl"),
                res.rejected.map((r) => ({ ...r.row, stage: r.stage, reasons: r.reasons })),
            );
            const reasons = { ...ds.rejectReasons };
            for (const [k, n] of Object.entries(countReasons(res.rejected))) reasons[k] = (reasons[k] ?? 0) + n;
            const manifest: DatasetManifest = {
                ...ds,
                id,
                filter: { ...ds.filter, defenses: [...defenses] },
                parent: ds.id,
                stages: res.reports,
                rows: { raw: ds.rows.raw, kept: res.kept.length, rejected: ds.rows.rejected + res.rejected.length },
                passRate: res.kept.length / Math.max(1, ds.rows.raw),
                rejectReasons: reasons,
                sublabVersion: SUBLAB_VERSION,
                createdAt: new Date().toISOString(),
            };
            writeJsonAtomic(manifestPath, manifest);
            for (const stage of res.reports) c.emit({ type: "filter", dataset: id, stage });
            c.log(
                `defend ${id}: kept ${res.kept.length}/${ds.rows.kept} of the format filter's rows (${(100 * manifest.passRate).toFixed(1)}% of the raw rows)`,
            );
            return manifest;
        },
    });
}
