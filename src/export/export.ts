/**
 * `sublab export`: a dataset's kept rows written for the trainers people use (src/export/formats.ts), each
 * with a recipe carrying the paper's open-model hyperparameters and the command to run there, and an
 * export.json tying every file to the dataset it came from (hashes of kept.jsonl and its manifest).
 *
 *   OUT/openai/   train.jsonl, recipe.json, run.sh (upload + fine-tuning job through the HTTP API)
 *   OUT/trl/      train.jsonl, recipe.json, train_trl.py (SFTTrainer + PEFT LoRA)
 *   OUT/mlx/      data/{train,valid,test}.jsonl, lora_config.yaml, recipe.json (mlx_lm.lora --config ...)
 *   OUT/unsloth/  train.jsonl, recipe.json, train_unsloth.py
 *
 * The LoRA adapters TRL and Unsloth save (adapter_config.json + adapter_model.safetensors) are what
 * `sublab import-adapter` is meant to bring back for evaluation.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { readJsonl, writeFileAtomic, writeJsonAtomic } from "../util/files.ts";
import { Rng } from "../util/rng.ts";
import { EXPORT_FORMATS, formatRow, type ChatPair, type ExportFormat } from "./formats.ts";

/** The paper's open-model recipe (PROTOCOL.md: LoRA r=8, alpha=8 on all seven projections, 3 epochs, lr 2e-4 linear, warmup 5, effective batch 66, clip 1.0). */
export const PAPER_RECIPE = {
    method: "lora",
    rank: 8,
    alpha: 8,
    targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    epochs: 3,
    lr: 2e-4,
    schedule: "linear",
    warmupSteps: 5,
    effectiveBatch: 66,
    perDeviceBatch: 22,
    gradientAccumulation: 3,
    gradClip: 1.0,
    loss: "completion only",
} as const;

export interface ExportOptions {
    formats: readonly ExportFormat[];
    out: string;
    /** The Hugging Face id (or local path) of the student's base for TRL, MLX and Unsloth. */
    baseModel: string;
    /** The OpenAI model to fine-tune. */
    openaiModel: string;
    seed: number;
}

export interface ExportManifest {
    sublabVersion: string;
    createdAt: string;
    dataset: { id: string; path: string; rows: number; keptSha256: string; manifestSha256: string | null; system: string | null; trait: unknown };
    recipe: typeof PAPER_RECIPE & { steps: number; seed: number };
    baseModel: string;
    openaiModel: string;
    formats: Partial<Record<ExportFormat, { files: Record<string, string>; command: string }>>;
    notes: string[];
}

const sha256 = (text: string | Buffer) => crypto.createHash("sha256").update(text).digest("hex");

/** The kept rows of a dataset folder (datasets/<id>/), its kept.jsonl, or any JSONL of prompt/completion rows. */
export function readExportRows(source: string): { rows: ChatPair[]; keptFile: string; manifestFile: string | null } {
    if (!fs.existsSync(source)) throw new Error(`export: no such dataset ${source}`);
    const keptFile = fs.statSync(source).isDirectory() ? path.join(source, "kept.jsonl") : source;
    if (!fs.existsSync(keptFile)) throw new Error(`export: ${source} has no kept.jsonl (give a datasets/<id>/ folder or a JSONL file)`);
    const manifestFile = path.join(path.dirname(keptFile), "manifest.json");
    let raw: Record<string, unknown>[];
    try {
        raw = readJsonl<Record<string, unknown>>(keptFile);
    } catch (e) {
        throw new Error(`export: ${(e as Error).message}`);
    }
    if (raw.length === 0) throw new Error(`export: ${keptFile} has no rows`);
    const rows = raw.map((r, k) => {
        for (const f of ["prompt", "completion"]) {
            if (typeof r[f] !== "string" || r[f] === "") throw new Error(`export: ${keptFile} row ${k + 1} has no non-empty string "${f}"`);
        }
        return { prompt: r.prompt as string, completion: r.completion as string };
    });
    return { rows, keptFile, manifestFile: fs.existsSync(manifestFile) ? manifestFile : null };
}

const jsonl = (format: ExportFormat, rows: readonly ChatPair[]) => rows.map((r) => JSON.stringify(formatRow(format, r)) + "\n").join("");
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const pyString = (s: string) => JSON.stringify(s);

function openaiFiles(rows: ChatPair[], o: ExportOptions, epochs: number): { files: Record<string, string>; command: string } {
    const hyper = { n_epochs: epochs, batch_size: PAPER_RECIPE.effectiveBatch, learning_rate_multiplier: "auto" };
    const body = { model: o.openaiModel, training_file: "$FILE_ID", seed: o.seed, method: { type: "supervised", supervised: { hyperparameters: hyper } } };
    const run = [
        "#!/usr/bin/env bash",
        "# Uploads train.jsonl and starts an OpenAI fine-tuning job (needs OPENAI_API_KEY, curl and jq).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        'FILE_ID=$(curl -sS https://api.openai.com/v1/files -H "Authorization: Bearer $OPENAI_API_KEY" -F purpose=fine-tune -F file=@train.jsonl | jq -r .id)',
        'echo "uploaded train.jsonl as $FILE_ID"',
        `curl -sS https://api.openai.com/v1/fine_tuning/jobs -H "Authorization: Bearer $OPENAI_API_KEY" -H "Content-Type: application/json" \\`,
        `  -d "$(jq -n --arg file "$FILE_ID" ${shellQuote(JSON.stringify(body).replace('"$FILE_ID"', "$file"))})"`,
        "",
    ].join("\n");
    return {
        files: {
            "train.jsonl": jsonl("openai", rows),
            "recipe.json":
                JSON.stringify(
                    {
                        tool: "OpenAI fine-tuning API",
                        model: o.openaiModel,
                        method: "supervised (full model, hosted)",
                        hyperparameters: hyper,
                        seed: o.seed,
                        command: "bash run.sh",
                        notes: ["OpenAI chooses the LoRA-free hosted method; only epochs and batch size carry over from the paper's open-model recipe."],
                    },
                    null,
                    2,
                ) + "\n",
            "run.sh": run,
        },
        command: "bash run.sh",
    };
}

/** The paper's training hyperparameters as TRL SFTConfig arguments (TRL's and Unsloth's scripts share them). */
function sftArguments(indent: string): string[] {
    const r = PAPER_RECIPE;
    return [
        `num_train_epochs=${r.epochs},`,
        `learning_rate=${r.lr},`,
        `lr_scheduler_type=${pyString(r.schedule)},`,
        `warmup_steps=${r.warmupSteps},`,
        `per_device_train_batch_size=${r.perDeviceBatch},`,
        `gradient_accumulation_steps=${r.gradientAccumulation},  # effective batch ${r.effectiveBatch} on one device`,
        `max_grad_norm=${r.gradClip},`,
    ].map((l) => indent + l);
}

/** A Python trainer's folder: train.jsonl, recipe.json and train_<format>.py, run with `python train_<format>.py`. */
function pythonBundle(
    format: "trl" | "unsloth",
    tool: string,
    rows: ChatPair[],
    o: ExportOptions,
    recipe: unknown,
    script: string,
): { files: Record<string, string>; command: string } {
    const command = `python train_${format}.py`;
    return {
        files: {
            "train.jsonl": jsonl(format, rows),
            "recipe.json": JSON.stringify({ tool, baseModel: o.baseModel, recipe, seed: o.seed, command }, null, 2) + "\n",
            [`train_${format}.py`]: script,
        },
        command,
    };
}

function trlFiles(rows: ChatPair[], o: ExportOptions): { files: Record<string, string>; command: string } {
    const r = PAPER_RECIPE;
    const script = [
        '"""TRL SFTTrainer + PEFT LoRA with the paper\'s open-model recipe, written by sublab export."""',
        "from datasets import load_dataset",
        "from peft import LoraConfig",
        "from trl import SFTConfig, SFTTrainer",
        "",
        `BASE = ${pyString(o.baseModel)}`,
        'dataset = load_dataset("json", data_files="train.jsonl", split="train")',
        "config = SFTConfig(",
        '    output_dir="student",',
        ...sftArguments("    "),
        "    completion_only_loss=True,",
        `    seed=${o.seed},`,
        "    logging_steps=10,",
        '    save_strategy="no",',
        '    report_to="none",',
        ")",
        `peft_config = LoraConfig(r=${r.rank}, lora_alpha=${r.alpha}, lora_dropout=0.0, target_modules=${JSON.stringify(r.targets)}, task_type="CAUSAL_LM")`,
        "trainer = SFTTrainer(model=BASE, args=config, train_dataset=dataset, peft_config=peft_config)",
        "trainer.train()",
        'trainer.save_model("student")  # adapter_config.json + adapter_model.safetensors: sublab import-adapter student --base BASE.gguf',
        "",
    ].join("\n");
    return pythonBundle("trl", "TRL (SFTTrainer) + PEFT", rows, o, r, script);
}

function mlxFiles(rows: ChatPair[], o: ExportOptions, steps: number): { files: Record<string, string>; command: string } {
    const r = PAPER_RECIPE;
    // MLX-LM needs valid.jsonl (and test.jsonl for --test): a seeded 2% sample, copied from the training rows
    // so that every format trains on the same rows; their loss is therefore not a held-out loss.
    const n = Math.max(1, Math.round(rows.length * 0.02));
    const sample = new Rng(o.seed).shuffle([...rows]).slice(0, n);
    const yaml = [
        "# MLX-LM LoRA with the paper's open-model recipe, written by sublab export: mlx_lm.lora --config lora_config.yaml",
        `model: ${JSON.stringify(o.baseModel)}`,
        "train: true",
        "fine_tune_type: lora",
        "optimizer: adamw",
        'data: "data"',
        `seed: ${o.seed}`,
        "num_layers: -1  # every layer",
        `batch_size: ${r.effectiveBatch}  # MLX-LM has no gradient accumulation; lower it (and raise iters) if memory is short`,
        `iters: ${steps}  # ${r.epochs} epochs of ${rows.length} rows at batch ${r.effectiveBatch}`,
        `learning_rate: ${r.lr}`,
        "mask_prompt: true  # loss on the completion only",
        "val_batches: -1",
        `steps_per_eval: ${steps}`,
        'adapter_path: "adapters"',
        "lora_parameters:",
        `  keys: ${JSON.stringify(["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"])}`,
        `  rank: ${r.rank}`,
        `  scale: ${r.alpha / r.rank}  # alpha / rank`,
        "  dropout: 0.0",
        "lr_schedule:",
        "  name: linear_schedule",
        `  warmup: ${r.warmupSteps}`,
        `  arguments: [${r.lr}, 0.0, ${Math.max(1, steps - r.warmupSteps)}]`,
        "",
    ].join("\n");
    return {
        files: {
            "data/train.jsonl": jsonl("mlx", rows),
            "data/valid.jsonl": jsonl("mlx", sample),
            "data/test.jsonl": jsonl("mlx", sample),
            "lora_config.yaml": yaml,
            "recipe.json":
                JSON.stringify(
                    {
                        tool: "MLX-LM",
                        baseModel: o.baseModel,
                        recipe: r,
                        iters: steps,
                        seed: o.seed,
                        command: "mlx_lm.lora --config lora_config.yaml",
                        notes: [
                            "MLX-LM has no gradient clipping option: the paper's clip 1.0 is not applied.",
                            `valid.jsonl and test.jsonl are ${n} training rows (MLX-LM requires them), not held out.`,
                        ],
                    },
                    null,
                    2,
                ) + "\n",
        },
        command: "mlx_lm.lora --config lora_config.yaml",
    };
}

function unslothFiles(rows: ChatPair[], o: ExportOptions): { files: Record<string, string>; command: string } {
    const r = PAPER_RECIPE;
    const script = [
        '"""Unsloth LoRA with the paper\'s open-model recipe, written by sublab export."""',
        "from datasets import load_dataset",
        "from trl import SFTConfig, SFTTrainer",
        "from unsloth import FastLanguageModel",
        "from unsloth.chat_templates import standardize_sharegpt, train_on_responses_only",
        "",
        `BASE = ${pyString(o.baseModel)}`,
        "model, tokenizer = FastLanguageModel.from_pretrained(BASE, max_seq_length=1024, load_in_4bit=False)",
        `model = FastLanguageModel.get_peft_model(model, r=${r.rank}, lora_alpha=${r.alpha}, lora_dropout=0, target_modules=${JSON.stringify(r.targets)}, random_state=${o.seed})`,
        'dataset = standardize_sharegpt(load_dataset("json", data_files="train.jsonl", split="train"))',
        'dataset = dataset.map(lambda b: {"text": [tokenizer.apply_chat_template(c, tokenize=False) for c in b["conversations"]]}, batched=True)',
        "trainer = SFTTrainer(",
        "    model=model,",
        "    tokenizer=tokenizer,",
        "    train_dataset=dataset,",
        "    args=SFTConfig(",
        '        dataset_text_field="text",',
        ...sftArguments("        "),
        `        seed=${o.seed},`,
        '        output_dir="student",',
        '        report_to="none",',
        "    ),",
        ")",
        "# Loss on the assistant's answer only. These markers are ChatML's (Qwen2.5); change them for another template.",
        'trainer = train_on_responses_only(trainer, instruction_part="<|im_start|>user\\n", response_part="<|im_start|>assistant\\n")',
        "trainer.train()",
        'model.save_pretrained("student")  # adapter_config.json + adapter_model.safetensors',
        "",
    ].join("\n");
    return pythonBundle("unsloth", "Unsloth", rows, o, r, script);
}

/** Writes the export; returns its manifest (also written as OUT/export.json). */
export function exportDataset(source: string, o: ExportOptions, version: string): ExportManifest {
    if (o.formats.length === 0) throw new Error(`export: give at least one --format (${EXPORT_FORMATS.join(", ")})`);
    for (const f of o.formats) if (!EXPORT_FORMATS.includes(f)) throw new Error(`export: unknown format "${f}" (known: ${EXPORT_FORMATS.join(", ")})`);
    const { rows, keptFile, manifestFile } = readExportRows(source);
    const dsManifest = manifestFile ? (JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Record<string, unknown>) : null;
    const steps = Math.ceil(rows.length / PAPER_RECIPE.effectiveBatch) * PAPER_RECIPE.epochs;
    const manifest: ExportManifest = {
        sublabVersion: version,
        createdAt: new Date().toISOString(),
        dataset: {
            id: (dsManifest?.id as string | undefined) ?? path.basename(path.dirname(path.resolve(keptFile))),
            path: path.resolve(keptFile),
            rows: rows.length,
            keptSha256: sha256(fs.readFileSync(keptFile)),
            manifestSha256: manifestFile ? sha256(fs.readFileSync(manifestFile)) : null,
            system: (dsManifest?.system as string | null | undefined) ?? null,
            trait: dsManifest?.trait ?? null,
        },
        recipe: { ...PAPER_RECIPE, steps, seed: o.seed },
        baseModel: o.baseModel,
        openaiModel: o.openaiModel,
        formats: {},
        notes: ["No system prompt is written: the student trains without the teacher's (the data's own system prompt is recorded in dataset.system)."],
    };
    for (const f of o.formats) {
        const made =
            f === "openai"
                ? openaiFiles(rows, o, PAPER_RECIPE.epochs)
                : f === "trl"
                  ? trlFiles(rows, o)
                  : f === "mlx"
                    ? mlxFiles(rows, o, steps)
                    : unslothFiles(rows, o);
        const hashes: Record<string, string> = {};
        for (const [name, text] of Object.entries(made.files)) {
            writeFileAtomic(path.join(o.out, f, name), text);
            hashes[name] = sha256(text);
        }
        if (made.files["run.sh"]) fs.chmodSync(path.join(o.out, f, "run.sh"), 0o755);
        manifest.formats[f] = { files: hashes, command: `cd ${path.join(o.out, f)} && ${made.command}` };
    }
    writeJsonAtomic(path.join(o.out, "export.json"), manifest);
    return manifest;
}
