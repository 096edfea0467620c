import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseTrainOptions, type RawTrainOptions } from "../../src/cli/commands/TrainCommand.ts";
import { ALL_LORA_TARGETS as LORA_TARGETS } from "../../src/engine/model-config.ts";

const base: RawTrainOptions = { model: "base.gguf", data: "data.jsonl", out: "out.gguf" };

describe("parseTrainOptions: accepted", () => {
    it("fills in the LoRA defaults", () => {
        expect(parseTrainOptions(base)).toEqual({
            model: "base.gguf",
            data: "data.jsonl",
            out: "out.gguf",
            mode: "lora",
            loraRank: 8,
            loraAlpha: 8,
            loraTargets: ["q", "k", "v", "o", "gate", "up", "down"],
            epochs: 3,
            lr: undefined,
            batchSize: 8,
            seed: 42,
        });
    });

    it("leaves the learning rate to the model when none is given (the job reads it from the GGUF)", () => {
        const opts = parseTrainOptions({ ...base, full: true });
        expect(opts.mode).toBe("full");
        expect(opts.lr).toBeUndefined();
    });

    it.each<[string, RawTrainOptions, Record<string, unknown>]>([
        ["LoRA rank and alpha", { loraRank: "16", loraAlpha: "32" }, { loraRank: 16, loraAlpha: 32 }],
        ["fractional alpha", { loraAlpha: "0.5" }, { loraAlpha: 0.5 }],
        ["some targets, spaces allowed", { loraTargets: "q, v ,down" }, { loraTargets: ["q", "v", "down"] }],
        ["lr in exponent notation", { lr: "5e-5" }, { lr: 5e-5 }],
        ["lr as a decimal", { lr: "0.001" }, { lr: 0.001 }],
        ["--full with its own lr", { full: true, lr: "3e-5" }, { mode: "full", lr: 3e-5 }],
        ["epochs, batch size, seed 0", { epochs: "1", batchSize: "32", seed: "0" }, { epochs: 1, batchSize: 32, seed: 0 }],
        ["threads, checkpoints, max steps", { threads: "2", checkpointDir: "ck", maxSteps: "100" }, { threads: 2, checkpointDir: "ck", maxSteps: 100 }],
        ["micro-batches", { batchSize: "64", microBatchSize: "8" }, { batchSize: 64, microBatchSize: 8 }],
        ["--full false is LoRA", { full: false, loraRank: "4" }, { mode: "lora", loraRank: 4 }],
    ])("%s", (_name, raw, expected) => {
        expect(parseTrainOptions({ ...base, ...raw })).toMatchObject(expected);
    });

    it("leaves out optional options that were not given", () => {
        const opts = parseTrainOptions(base);
        expect("threads" in opts || "checkpointDir" in opts || "maxSteps" in opts).toBe(false);
    });

    it("returns a fresh targets array each time", () => {
        const a = parseTrainOptions(base);
        a.loraTargets.pop();
        expect(parseTrainOptions(base).loraTargets).toEqual([...LORA_TARGETS]);
    });
});

describe("parseTrainOptions: rejected, naming the option", () => {
    it.each<[RawTrainOptions, string]>([
        [{ lr: "abc" }, `--lr must be a positive number, got "abc"`],
        [{ lr: "0" }, `--lr must be a positive number, got "0"`],
        [{ lr: "-1e-4" }, `--lr must be a positive number, got "-1e-4"`],
        [{ lr: "" }, `--lr must be a positive number, got ""`],
        [{ lr: "Infinity" }, `--lr must be a positive number, got "Infinity"`],
        [{ lr: "0x10" }, `--lr must be a positive number, got "0x10"`],
        [{ lr: "1e400" }, `--lr must be a positive number, got "1e400"`],
        [{ loraAlpha: "-2" }, `--lora-alpha must be a positive number, got "-2"`],
        [{ loraRank: "0" }, `--lora-rank must be a positive integer, got "0"`],
        [{ loraRank: "4.5" }, `--lora-rank must be a positive integer, got "4.5"`],
        [{ epochs: "three" }, `--epochs must be a positive integer, got "three"`],
        [{ batchSize: "1e3" }, `--batch-size must be a positive integer, got "1e3"`],
        [{ threads: " 2" }, `--threads must be a positive integer, got " 2"`],
        [{ maxSteps: "-5" }, `--max-steps must be a positive integer, got "-5"`],
        [{ microBatchSize: "0" }, `--micro-batch-size must be a positive integer, got "0"`],
        [{ seed: "-1" }, `--seed must be a non-negative integer, got "-1"`],
        [{ seed: "99999999999999999999" }, `--seed must be a non-negative integer, got "99999999999999999999"`],
        [{ full: true, loraRank: "8" }, "--full cannot be combined with --lora-rank"],
        [{ full: true, loraAlpha: "8" }, "--full cannot be combined with --lora-alpha"],
        [{ full: true, loraTargets: "q" }, "--full cannot be combined with --lora-targets"],
        [{ loraTargets: "q,foo" }, `unknown lora target "foo"`],
        [{ loraTargets: "q,,v" }, `unknown lora target ""`],
        [{ loraTargets: "" }, "--lora-targets is empty"],
        [{ loraTargets: "q,v,q" }, `--lora-targets: "q" is given twice`],
        [{ model: undefined }, "--model is required"],
        [{ data: " " }, "--data is required"],
        [{ out: "" }, "--out is required"],
        [{ checkpointDir: "" }, "--checkpoint-dir is required"],
    ])("%o -> %s", (raw, message) => {
        expect(() => parseTrainOptions({ ...base, ...raw })).toThrow(message);
    });
});

describe("sublab train (the binary)", () => {
    it("prints a bad option as 'sublab: <message>' on stderr and exits 1, without a stack", () => {
        const bin = path.join(import.meta.dirname, "..", "..", "bin", "sublab.js");
        const args = [bin, "train", "--model", "m.gguf", "--data", "d.jsonl", "--out", "o.gguf", "--lr", "abc"];
        const env = { ...process.env };
        delete env.SUBLAB_DEBUG;
        const result = spawnSync(process.execPath, args, { encoding: "utf8", env });
        expect(result.status).toBe(1);
        expect(result.stderr).toBe(`sublab: --lr must be a positive number, got "abc"\n`);
        expect(result.stdout).toBe("");
    });
});
