/** PEFT <-> GGUF LoRA adapters: the round trip through node-llama-cpp, safetensors dtypes, and the errors. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getMeta, readGGUF, readTensorF32 } from "../../src/engine/gguf.ts";
import { ggufLoraName, importAdapter, peftLoraName, readSafetensors, writePeftAdapter, writeSafetensors } from "../../src/export/peft.ts";
import { ALL_LORA_TARGETS, type Arch } from "../../src/engine/model-config.ts";
import { llamaCppNextLogProbs } from "../helpers/llamacpp.ts";
import { tempDir, tinyModel } from "../helpers/tiny.ts";
import { Rng } from "../../src/util/rng.ts";

const PROMPTS = [
    [1, 5, 6, 7],
    [1, 8, 9, 10, 11, 12],
    [1, 13],
];

function maxDiff(a: Float64Array[], b: Float64Array[]): number {
    let d = 0;
    a.forEach((x, i) => x.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i]![j]!)))));
    return d;
}

/** A tiny base and an adapter for it whose A and B are both random (a fresh LoRA's B is zero and would change nothing). */
function baseAndAdapter(dir: string, rank = 4, alpha = 8, arch: Arch = "llama"): { base: string; adapter: string; vocab: number } {
    const m = tinyModel({ arch }, 5);
    const base = path.join(dir, "base.gguf");
    m.save(base);
    const lora = m.addLora({ rank, alpha, targets: ALL_LORA_TARGETS }, 7);
    const rng = new Rng(11);
    for (const name of lora.store.names()) {
        const n = lora.store.shape(name).reduce((a, b) => a * b, 1);
        lora.store.set(name, Float32Array.from({ length: n }, () => rng.normal() * 0.2));
    }
    const adapter = path.join(dir, "adapter.gguf");
    m.saveLora(adapter);
    const vocab = m.config.vocabSize;
    m.free();
    return { base, adapter, vocab };
}

describe("PEFT adapters", { timeout: 120_000 }, () => {
    it("names map both ways", () => {
        expect(ggufLoraName("base_model.model.model.layers.3.self_attn.o_proj.lora_A.weight")).toBe("blk.3.attn_output.weight.lora_a");
        expect(ggufLoraName("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")).toBe("blk.0.ffn_down.weight.lora_b");
        expect(ggufLoraName("model.layers.1.self_attn.q_proj.lora_A.default.weight")).toBe("blk.1.attn_q.weight.lora_a");
        expect(ggufLoraName("base_model.model.lm_head.lora_A.weight")).toBeNull();
        expect(peftLoraName("blk.2.ffn_gate.weight.lora_b")).toBe("base_model.model.model.layers.2.mlp.gate_proj.lora_B.weight");
        expect(() => peftLoraName("output.weight")).toThrow(/not a GGUF LoRA tensor/);
    });

    it("round trip: engine adapter -> PEFT safetensors -> imported GGUF gives node-llama-cpp the same logits (within 1e-3)", async () => {
        const dir = tempDir();
        const { base, adapter, vocab } = baseAndAdapter(dir);
        const peft = path.join(dir, "peft");
        writePeftAdapter(adapter, peft, "tiny", base);
        const cfg = JSON.parse(fs.readFileSync(path.join(peft, "adapter_config.json"), "utf8"));
        expect(cfg).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] });
        const st = readSafetensors(path.join(peft, "adapter_model.safetensors"));
        const a0 = st.tensors.find((t) => t.name === "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!;
        expect(a0.shape).toEqual([4, 64]); // torch [r, in]
        const back = path.join(dir, "imported.gguf");
        const r = importAdapter(peft, base, back);
        expect(r).toMatchObject({ from: "peft", rank: 4, alpha: 8, tensors: 2 * 7 * 2 });
        const withOriginal = await llamaCppNextLogProbs(base, vocab, PROMPTS, adapter);
        const withImported = await llamaCppNextLogProbs(base, vocab, PROMPTS, back);
        const plain = await llamaCppNextLogProbs(base, vocab, PROMPTS);
        expect(maxDiff(withOriginal, withImported)).toBeLessThan(1e-3);
        // The adapter does something: without it the logits are elsewhere.
        expect(maxDiff(withOriginal, plain)).toBeGreaterThan(1e-2);
    });

    it("q/k lora_B rows are in Hugging Face order in PEFT: llama.cpp's converter permutation of them gives the GGUF rows", () => {
        // convert_hf_to_gguf.py's LlamaModel.permute: w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2), written out here
        // on its own (torch [out, r] rows): GGUF row h*hd + 2i + s is HF row h*hd + s*hd/2 + i.
        const converterPermute = (hf: Float32Array, out: number, r: number, nHead: number) => {
            const hd = out / nHead;
            const res = new Float32Array(hf.length);
            for (let h = 0; h < nHead; h++) for (let s = 0; s < 2; s++) for (let i = 0; i < hd / 2; i++) {
                res.set(hf.subarray((h * hd + s * (hd / 2) + i) * r, (h * hd + s * (hd / 2) + i + 1) * r), (h * hd + 2 * i + s) * r);
            }
            return res;
        };
        for (const arch of ["llama", "qwen2"] as Arch[]) {
            const dir = tempDir();
            const { base, adapter } = baseAndAdapter(dir, 4, 8, arch);
            const peft = path.join(dir, "peft");
            writePeftAdapter(adapter, peft, "tiny", base);
            const st = readSafetensors(path.join(peft, "adapter_model.safetensors")).tensors;
            const g = readGGUF(adapter);
            const heads = { q: 4, k: 2 }; // tinyModel: 4 heads, 2 KV heads, head size 16
            for (const [proj, nHead] of Object.entries(heads)) {
                const hf = st.find((t) => t.name === `base_model.model.model.layers.1.self_attn.${proj}_proj.lora_B.weight`)!;
                const gguf = readTensorF32(g, `blk.1.attn_${proj}.weight.lora_b`);
                const [out, r] = hf.shape as [number, number];
                if (arch === "llama") {
                    expect(converterPermute(hf.data, out, r, nHead), `${arch} ${proj}`).toEqual(gguf);
                    expect(hf.data, "the rows really moved").not.toEqual(gguf);
                } else expect(hf.data, `${arch} ${proj}: NeoX RoPE, HF order`).toEqual(gguf);
            }
            // v and the A matrices are never permuted.
            expect(st.find((t) => t.name.endsWith("layers.0.self_attn.v_proj.lora_B.weight"))!.data).toEqual(readTensorF32(g, "blk.0.attn_v.weight.lora_b"));
            expect(st.find((t) => t.name.endsWith("layers.0.self_attn.q_proj.lora_A.weight"))!.data).toEqual(readTensorF32(g, "blk.0.attn_q.weight.lora_a"));
        }
    });

    it("rsLoRA folds its sqrt(r) scaling into alpha; F16 and BF16 weights read", () => {
        const dir = tempDir();
        const { base, adapter } = baseAndAdapter(dir, 4, 8);
        const peft = path.join(dir, "peft");
        writePeftAdapter(adapter, peft, "tiny", base);
        const cfgFile = path.join(peft, "adapter_config.json");
        fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, "utf8")), use_rslora: true }));
        const out = path.join(dir, "rs.gguf");
        importAdapter(peft, base, out);
        expect(getMeta<number>(readGGUF(out), "adapter.lora.alpha")).toBeCloseTo(8 * 2, 5);

        // Hand-made F16 and BF16 tensors: 1.0, -2.0, 0.5.
        const f = path.join(dir, "mixed.safetensors");
        const header = JSON.stringify({ a: { dtype: "F16", shape: [3], data_offsets: [0, 6] }, b: { dtype: "BF16", shape: [3], data_offsets: [6, 12] } });
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(header.length));
        const data = Buffer.alloc(12);
        [0x3c00, 0xc000, 0x3800].forEach((h, i) => data.writeUInt16LE(h, 2 * i));
        [0x3f80, 0xc000, 0x3f00].forEach((h, i) => data.writeUInt16LE(h, 6 + 2 * i));
        fs.writeFileSync(f, Buffer.concat([len, Buffer.from(header), data]));
        const t = readSafetensors(f).tensors;
        expect(Array.from(t[0]!.data)).toEqual([1, -2, 0.5]);
        expect(Array.from(t[1]!.data)).toEqual([1, -2, 0.5]);
    });

    it("a GGUF adapter is checked against the base and copied as it is", () => {
        const dir = tempDir();
        const { base, adapter } = baseAndAdapter(dir);
        const out = path.join(dir, "copy.gguf");
        expect(importAdapter(adapter, base, out)).toMatchObject({ from: "gguf", rank: 4, alpha: 8 });
        expect(fs.readFileSync(out)).toEqual(fs.readFileSync(adapter));
    });

    it("fails clearly: unreadable safetensors, wrong base, missing config, unsupported tensors, a model that is not an adapter", () => {
        const dir = tempDir();
        const { base, adapter } = baseAndAdapter(dir);
        const peft = path.join(dir, "peft");
        writePeftAdapter(adapter, peft, "tiny", base);
        const st = path.join(peft, "adapter_model.safetensors");
        const good = fs.readFileSync(st);
        const out = path.join(dir, "o.gguf");

        fs.writeFileSync(st, good.subarray(0, 5));
        expect(() => importAdapter(peft, base, out)).toThrow(/adapter_model.safetensors: unreadable safetensors \(5 bytes, shorter than the 8-byte header length\)/);
        fs.writeFileSync(st, good.subarray(0, 200));
        expect(() => importAdapter(peft, base, out)).toThrow(/unreadable safetensors \(header length \d+ does not fit a 200-byte file\)/);
        const broken = Buffer.from(good);
        broken.write("{{", 8);
        fs.writeFileSync(st, broken);
        expect(() => importAdapter(peft, base, out)).toThrow(/unreadable safetensors \(header is not JSON/);
        fs.writeFileSync(st, good);

        // Another base: a wider model; the first tensor that does not fit is named.
        const other = tinyModel({ arch: "llama", dModel: 32, nHeads: 2, nKvHeads: 1 }, 9);
        const otherBase = path.join(dir, "other.gguf");
        other.save(otherBase);
        other.free();
        expect(() => importAdapter(peft, otherBase, out)).toThrow(/tensor "blk\.0\.attn_q\.weight\.lora_a" has shape \[64,4\] \(ggml order\), which does not fit blk\.0\.attn_q\.weight \[32,32\] of .*other\.gguf \(wrong base model\?\)/);
        expect(() => importAdapter(adapter, otherBase, out)).toThrow(/does not fit blk\.0\.attn_q\.weight \[32,32\]/);

        const cfgFile = path.join(peft, "adapter_config.json");
        const cfg = fs.readFileSync(cfgFile, "utf8");
        fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(cfg), use_dora: true }));
        expect(() => importAdapter(peft, base, out)).toThrow(/use_dora: DoRA adapters have no llama.cpp LoRA equivalent/);
        fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(cfg), r: 8 }));
        expect(() => importAdapter(peft, base, out)).toThrow(/has rank 4, adapter_config.json says r=8/);
        fs.rmSync(cfgFile);
        expect(() => importAdapter(peft, base, out)).toThrow(/no adapter_config.json beside the adapter/);
        fs.writeFileSync(cfgFile, cfg);

        const { tensors } = readSafetensors(st);
        writeSafetensors(st, [...tensors, { name: "base_model.model.lm_head.lora_A.weight", shape: [4, 64], data: new Float32Array(256) }]);
        expect(() => importAdapter(peft, base, out)).toThrow(/tensor "base_model.model.lm_head.lora_A.weight" is not a LoRA A\/B weight/);
        writeSafetensors(st, tensors.filter((t) => !t.name.endsWith("layers.1.mlp.up_proj.lora_B.weight")));
        expect(() => importAdapter(peft, base, out)).toThrow(/layers.1.mlp.up_proj.lora_A.weight has no matching .*layers.1.mlp.up_proj.lora_B.weight/);

        expect(() => importAdapter(base, base, out)).toThrow(/a GGUF, but not a LoRA adapter \(general.type=/);
        expect(() => importAdapter(path.join(dir, "nothing"), base, out)).toThrow(/no such file or folder/);
    });

    it("the CLI imports a PEFT folder and exports a GGUF adapter", () => {
        const dir = tempDir();
        const { base, adapter } = baseAndAdapter(dir);
        const bin = path.resolve("bin/sublab.js");
        const peft = path.join(dir, "peft");
        expect(execFileSync("node", [bin, "export-adapter", adapter, "--base", base, "--out", peft, "--base-model", "tiny"], { encoding: "utf8" })).toMatch(/adapter_model.safetensors/);
        const out = path.join(dir, "in.gguf");
        expect(execFileSync("node", [bin, "import-adapter", peft, "--base", base, "--out", out], { encoding: "utf8" })).toMatch(/converted 28 tensors \(rank 4, alpha 8\) -> .*in\.gguf; evaluate it with: sublab eval --model/);
    });
});
