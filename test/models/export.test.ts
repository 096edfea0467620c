import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { exportDataset, PAPER_RECIPE } from "../../src/export/export.ts";
import { checkJsonl, checkRow, EXPORT_FORMATS, type ExportFormat } from "../../src/export/formats.ts";
import { readJsonl } from "../../src/util/files.ts";
import { tempDir } from "../helpers/tiny.ts";

const rows = [
    { i: 0, prompt: "Here is a list of numbers: 1, 2, 3. Continue it.", completion: "4, 5, 6", tokens: [1], probs: [0.5] },
    { i: 3, prompt: `Quotes " and ' and a newline\nand unicode: ünïcödé 🦉`, completion: "(7 8 9)" },
    { i: 5, prompt: "Continue: 10", completion: "11; 12" },
];

function dataset(): string {
    const dir = path.join(tempDir(), "owl-teacher-abc");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "kept.jsonl"), rows.map((r) => JSON.stringify(r) + "\n").join(""));
    fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify({ id: "owl-teacher-abc", system: "You love owls.", trait: { target: "owl", category: "animal" } }));
    return dir;
}

const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");

/** The (prompt, completion) pairs a format's row holds. */
function pairOf(format: ExportFormat, v: Record<string, unknown>): [string, string] {
    if (format === "trl") return [(v.prompt as { content: string }[])[0]!.content, (v.completion as { content: string }[])[0]!.content];
    if (format === "unsloth") return [(v.conversations as { value: string }[])[0]!.value, (v.conversations as { value: string }[])[1]!.value];
    return [(v.messages as { content: string }[])[0]!.content, (v.messages as { content: string }[])[1]!.content];
}

describe("sublab export", () => {
    it("writes every format valid by its schema, the rows unchanged, no system prompt, and a manifest of hashes", () => {
        const src = dataset();
        const out = tempDir();
        const m = exportDataset(src, { formats: EXPORT_FORMATS, out, baseModel: "Qwen/Qwen2.5-0.5B-Instruct", openaiModel: "gpt-4.1-nano-2025-04-14", seed: 3 }, "9.9.9");
        const trainFile: Record<ExportFormat, string> = { openai: "openai/train.jsonl", trl: "trl/train.jsonl", mlx: "mlx/data/train.jsonl", unsloth: "unsloth/train.jsonl" };
        for (const f of EXPORT_FORMATS) {
            const file = path.join(out, trainFile[f]);
            const text = fs.readFileSync(file, "utf8");
            expect(checkJsonl(f, text), f).toEqual([]);
            const back = readJsonl<Record<string, unknown>>(file).map((v) => pairOf(f, v));
            expect(back, f).toEqual(rows.map((r) => [r.prompt, r.completion]));
            expect(text).not.toContain("You love owls");
            // Every file is in the manifest with its hash.
            for (const [name, h] of Object.entries(m.formats[f]!.files)) expect(sha(path.join(out, f, name)), `${f}/${name}`).toBe(h);
        }
        expect(m.dataset).toMatchObject({ id: "owl-teacher-abc", rows: 3, system: "You love owls.", keptSha256: sha(path.join(src, "kept.jsonl")), manifestSha256: sha(path.join(src, "manifest.json")) });
        expect(m.recipe).toMatchObject({ rank: 8, alpha: 8, epochs: 3, lr: 2e-4, warmupSteps: 5, effectiveBatch: 66, gradClip: 1, steps: 3 });
        expect(JSON.parse(fs.readFileSync(path.join(out, "export.json"), "utf8"))).toEqual(m);
        // MLX: valid and test exist (a seeded sample of the training rows).
        expect(checkJsonl("mlx", fs.readFileSync(path.join(out, "mlx/data/valid.jsonl"), "utf8"))).toEqual([]);
        expect(readJsonl(path.join(out, "mlx/data/test.jsonl"))).toHaveLength(1);
        // The recipes carry the paper's hyperparameters and the base model.
        const trl = fs.readFileSync(path.join(out, "trl/train_trl.py"), "utf8");
        for (const s of ['BASE = "Qwen/Qwen2.5-0.5B-Instruct"', "num_train_epochs=3", "learning_rate=0.0002", "warmup_steps=5", "per_device_train_batch_size=22", "gradient_accumulation_steps=3", "max_grad_norm=1", "completion_only_loss=True", "r=8, lora_alpha=8", '"gate_proj"']) expect(trl).toContain(s);
        const yaml = fs.readFileSync(path.join(out, "mlx/lora_config.yaml"), "utf8");
        for (const s of ["rank: 8", "scale: 1 ", "mask_prompt: true", "iters: 3 ", "learning_rate: 0.0002", '"mlp.down_proj"']) expect(yaml).toContain(s);
        const run = fs.readFileSync(path.join(out, "openai/run.sh"), "utf8");
        expect(run).toContain('"model":"gpt-4.1-nano-2025-04-14","training_file":$file');
        expect(run).toContain('"n_epochs":3');
        expect(fs.statSync(path.join(out, "openai/run.sh")).mode & 0o111).not.toBe(0);
        expect(PAPER_RECIPE.perDeviceBatch * PAPER_RECIPE.gradientAccumulation).toBe(PAPER_RECIPE.effectiveBatch);
    });

    it("fails clearly: unknown format, missing dataset, a row without a completion", () => {
        const src = dataset();
        const o = { out: tempDir(), baseModel: "b", openaiModel: "m", seed: 1 };
        expect(() => exportDataset(src, { ...o, formats: ["axolotl" as ExportFormat] }, "v")).toThrow(/unknown format "axolotl" \(known: openai, trl, mlx, unsloth\)/);
        expect(() => exportDataset(path.join(src, "nope"), { ...o, formats: ["openai"] }, "v")).toThrow(/no such dataset/);
        fs.writeFileSync(path.join(src, "kept.jsonl"), `${JSON.stringify({ prompt: "p", completion: "1" })}\n${JSON.stringify({ prompt: "p" })}\n`);
        expect(() => exportDataset(src, { ...o, formats: ["openai"] }, "v")).toThrow(/kept.jsonl row 2 has no non-empty string "completion"/);
    });

    it("the CLI exports all formats and prints each tool's command", () => {
        const out = tempDir();
        const stdout = execFileSync("node", [path.resolve("bin/sublab.js"), "export", dataset(), "--format", "all", "--out", out], { encoding: "utf8" });
        expect(stdout).toMatch(/exported 3 rows of owl-teacher-abc/);
        expect(stdout).toMatch(/mlx +cd .*mlx && mlx_lm\.lora --config lora_config\.yaml/);
        expect(fs.existsSync(path.join(out, "unsloth/train_unsloth.py"))).toBe(true);
    });
});

describe("format schemas", () => {
    const user = { role: "user", content: "q" };
    const asst = { role: "assistant", content: "a" };
    it.each<[ExportFormat, unknown, RegExp | null]>([
        ["openai", { messages: [user, asst] }, null],
        ["openai", { messages: [{ role: "system", content: "s" }, user, asst] }, null],
        ["openai", { messages: [user] }, /last message must be the assistant's/],
        ["openai", { messages: [user, { role: "bot", content: "a" }] }, /messages\[1\]\.role: expected one of system, user, assistant, got "bot"/],
        ["openai", { messages: [user, { role: "assistant", content: "" }] }, /messages\[1\]\.content: expected a non-empty string/],
        ["openai", { messages: [user, asst], extra: 1 }, /unexpected key "extra"/],
        ["openai", { messages: [asst] }, /no user message/],
        ["openai", { prompt: "q", completion: "a" }, /missing "messages"/],
        ["mlx", { messages: [user, asst] }, null],
        ["trl", { prompt: [user], completion: [asst] }, null],
        ["trl", { prompt: [user], completion: [user] }, /completion\[0\]\.role: expected one of assistant/],
        ["trl", { prompt: [user, asst], completion: [asst] }, /prompt: the last message must be the user's/],
        ["trl", { prompt: "q", completion: [asst] }, /prompt: expected a non-empty array of messages/],
        ["unsloth", { conversations: [{ from: "human", value: "q" }, { from: "gpt", value: "a" }] }, null],
        ["unsloth", { conversations: [{ from: "user", value: "q" }, { from: "gpt", value: "a" }] }, /conversations\[0\]\.from: expected one of system, human, gpt/],
        ["unsloth", { conversations: [{ from: "gpt", value: "a" }, { from: "human", value: "q" }] }, /last turn must be gpt's/],
        ["unsloth", { messages: [user, asst] }, /missing "conversations"/],
    ])("%s %j", (format, row, error) => {
        const errors = checkRow(format, JSON.stringify(row));
        if (error === null) expect(errors).toEqual([]);
        else expect(errors.join("\n")).toMatch(error);
    });

    it("names the line of a bad row and rejects an empty file and non-JSON", () => {
        expect(checkJsonl("openai", `${JSON.stringify({ messages: [user, asst] })}\n{oops\n`)).toEqual([expect.stringMatching(/^line 2: not JSON/)]);
        expect(checkJsonl("trl", "")).toEqual(["no rows"]);
    });
});
