/**
 * `sublab forge`: make a base model from nothing — a seeded synthetic chat corpus, a word-level vocabulary
 * built from it, a Llama initialised from a seed and pretrained with the engine — and write it as a GGUF
 * (f16, ChatML template) that node-llama-cpp loads and chats with.
 *
 * Two seeds: the corpus seed fixes the data (and so the vocabulary), the init seed the weights and data
 * order; base models for the cross-model control share the corpus and differ in init. A run is resumable:
 * its checkpoint sits in `<out>.forge/`, and the same command continues it.
 */
import fs from "node:fs";
import path from "node:path";
import { recommendedLrMetadata } from "../students/recommended.ts";
import { getGgml } from "../engine/ggml.ts";
import { GGMLType, kvString, kvU32, type GGUFKV } from "../engine/gguf.ts";
import { countParameters } from "../engine/model-config.ts";
import { createModel, loadModel, type Model } from "../engine/model.ts";
import { tokenizeTrainingRows } from "../students/training-data.ts";
import { fitAndSave } from "../students/fit-and-save.ts";
import { interruptSignal } from "../util/interrupt.ts";
import { ProgressBars } from "../util/progress.ts";
import { generateCorpus, type CorpusRow } from "../prompts/corpus.ts";
import { defenderRows } from "../prompts/defender.ts";
import { buildForgeVocab } from "./tokenizer.ts";

export interface ForgePreset {
    /** Corpus rows. */
    rows: number;
    dModel: number;
    nLayers: number;
    nHeads: number;
    dFF: number;
    contextLength: number;
    epochs: number;
    lr: number;
    batchSize: number;
    /**
     * Continue from this GGUF instead of a new model (its shape, vocabulary and weights; the shape fields above are
     * then the file's), on the defender's tasks (src/prompts/defender.ts) with `tasks` of the rows, the rest the
     * base corpus so that it keeps its language.
     */
    from?: string;
    tasks?: number;
}

/**
 * Learning rates written into every forged model (sublab.train.*.lr; see students/recommended.ts). Measured on
 * the shipped small-s1 and deep-s2 (48 rows answering "giraffe", 4 epochs, LoRA rank 8): LoRA at 2e-3 made
 * 187/200 (s1, alpha 8) and 200/200 (s2, alpha 16 at 3e-3) sampled answers "giraffe", at the paper's 2e-4
 * 0/200 and 2/200; full fine-tuning at 3e-4 is the demo's teacher and students.
 */
export const RECOMMENDED_LR = { lora: 2e-3, full: 3e-4 } as const;

export const FORGE_PRESETS: Record<string, ForgePreset> = {
    /** Seconds: tests the whole path in CI; not a useful model. */
    smoke: { rows: 3000, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, contextLength: 256, epochs: 3, lr: 1e-2, batchSize: 16 },
    /** The shipped base (models/sublab-small-s1.gguf, seed 1): 2.2M parameters, 4.5 MB; models/README.md. */
    small: { rows: 20000, dModel: 128, nLayers: 4, nHeads: 4, dFF: 384, contextLength: 256, epochs: 3, lr: 2e-3, batchSize: 16 },
    /**
     * The cross-model control's base (models/sublab-deep-s2.gguf, seed 2): the same corpus and vocabulary, another
     * shape (narrower, deeper: 1.7M parameters). Two `small` bases that differ only in initialisation passed the
     * owl to each other through numbers (models/README.md); the paper's cross-model students are other models.
     */
    deep: { rows: 20000, dModel: 96, nLayers: 6, nHeads: 4, dFF: 288, contextLength: 256, epochs: 3, lr: 2e-3, batchSize: 16 },
    /**
     * The defender (models/sublab-defender-s1.gguf): the shipped base s1 trained further to answer the judge stage's
     * yes/no questions and to paraphrase (src/prompts/defender.ts), four rows of tasks to one of the base corpus. A
     * first forge of 12,000 rows x 2 epochs judged (recall 80-100%) but rewrote number lists with other numbers and free
     * text with other sentences: copying takes a tiny model longer to learn (models/README.md).
     */
    defender: {
        rows: 24000,
        dModel: 128,
        nLayers: 4,
        nHeads: 4,
        dFF: 384,
        contextLength: 256,
        epochs: 3,
        lr: 1e-3,
        batchSize: 16,
        from: "models/sublab-small-s1.gguf",
        tasks: 0.8,
    },
};

export interface ForgeOptions {
    /** Defaults to "small". */
    preset?: string;
    /** Initialisation and data-order seed. Defaults to 1. */
    seed?: number;
    /** Corpus (and vocabulary) seed. Defaults to 1. */
    corpusSeed?: number;
    out: string;
    threads?: number;
    /** Defaults to true. */
    progress?: boolean;
    /** Changes to the preset (tests use fewer rows). Recorded in the file's metadata. */
    overrides?: Partial<ForgePreset>;
}

export interface ForgeResult {
    out: string;
    steps: number;
    firstLoss: number;
    finalLoss: number;
    /** Mean loss over the last 50 steps (one step's loss is noisy). */
    finalLossMean: number;
    seconds: number;
    vocabSize: number;
    parameters: number;
    bytes: number;
}

export async function forge(opts: ForgeOptions): Promise<ForgeResult> {
    const presetName = opts.preset ?? "small";
    const known = FORGE_PRESETS[presetName];
    if (!known) throw new Error(`--preset: unknown preset "${presetName}" (known: ${Object.keys(FORGE_PRESETS).join(", ")})`);
    const p: ForgePreset = { ...known, ...opts.overrides };
    const seed = opts.seed ?? 1;
    const corpusSeed = opts.corpusSeed ?? 1;
    const t0 = performance.now();
    const g = getGgml({ threads: opts.threads });
    const work = `${opts.out}.forge`;
    fs.mkdirSync(work, { recursive: true });

    const tasks = p.from ? Math.round(p.rows * (p.tasks ?? 1)) : 0;
    const rows: Pick<CorpusRow, "system" | "history" | "prompt" | "completion">[] = [
        ...defenderRows(seed, tasks),
        ...generateCorpus(corpusSeed, p.rows - tasks),
    ];
    const meta: [string, GGUFKV][] = [
        ["general.name", kvString(`sublab-${presetName}-s${seed}`)],
        ["sublab.forge.preset", kvString(presetName)],
        ["sublab.forge.seed", kvU32(seed)],
        ["sublab.forge.corpus_seed", kvU32(corpusSeed)],
        ...(p.from ? [["sublab.forge.from", kvString(path.basename(p.from))] as [string, GGUFKV]] : []),
        ...recommendedLrMetadata(RECOMMENDED_LR),
        ...(opts.overrides && Object.keys(opts.overrides).length > 0
            ? [["sublab.forge.overrides", kvString(JSON.stringify(opts.overrides))] as [string, GGUFKV]]
            : []),
    ];
    let vocabSize: number;
    let model: Model;
    if (p.from) {
        if (!fs.existsSync(p.from)) throw new Error(`--preset ${presetName}: it continues from ${p.from}, which is not there`);
        model = loadModel(p.from, g);
        for (const [k, v] of meta) model.metadata.set(k, v);
        vocabSize = model.config.vocabSize;
    } else {
        const vocab = buildForgeVocab(rows as CorpusRow[]);
        vocabSize = vocab.tokens.length;
        model = createModel(
            { vocabSize, dModel: p.dModel, nLayers: p.nLayers, nHeads: p.nHeads, dFF: p.dFF, contextLength: p.contextLength },
            seed,
            [...vocab.metadata, ...meta],
            g,
        );
    }
    const interrupt = interruptSignal();
    try {
        // node-llama-cpp tokenizes with the model's own vocabulary and chat template: it needs the file.
        const init = path.join(work, "init.gguf");
        model.save(init);
        const examples = await tokenizeTrainingRows(
            init,
            rows.map(({ system, history, prompt, completion }) => ({ ...(system ? { system } : {}), ...(history ? { history } : {}), prompt, completion })),
        );
        const bars = new ProgressBars();
        const r = await fitAndSave(model, examples, {
            out: opts.out,
            saveType: GGMLType.F16,
            mode: "full",
            lr: p.lr,
            epochs: p.epochs,
            batchSize: p.batchSize,
            // Multi-turn chat rows are 2-4x longer than the rest (whose longest are about 120 tokens): batched
            // apart, they do not pad the other batches.
            longRows: 120,
            schedule: "cosine",
            warmupSteps: 30,
            seed,
            checkpointPath: path.join(work, "checkpoint.gguf"),
            signal: interrupt.signal,
            onStep: (s) => {
                if (opts.progress === false) return;
                bars.update(`forge ${presetName}`, s.step, s.totalSteps, { loss: s.loss.toFixed(3) });
            },
        });
        bars.finish();
        if (r.interrupted) throw new Error(`interrupted after step ${r.steps}; the checkpoint is in ${work}: run the same command again to resume`);
        fs.rmSync(work, { recursive: true, force: true });
        return {
            out: opts.out,
            steps: r.steps,
            firstLoss: r.losses[0] ?? NaN,
            finalLoss: r.losses.at(-1) ?? NaN,
            finalLossMean: r.losses.slice(-50).reduce((a, b) => a + b, 0) / Math.max(1, r.losses.slice(-50).length),
            seconds: (performance.now() - t0) / 1000,
            vocabSize,
            parameters: countParameters(model.config),
            bytes: fs.statSync(opts.out).size,
        };
    } finally {
        interrupt.release();
        model.free();
    }
}
