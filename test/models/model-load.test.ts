/** Loading GGUF models: unsupported architectures, shapes and missing tensors fail naming what is wrong. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GGMLType, kvString, readGGUF, writeGGUF } from "../../src/engine/gguf.ts";
import { architectureMetadata, loadModel } from "../../src/engine/model.ts";
import { resolveConfig } from "../../src/engine/model-config.ts";
import { tempDir, tinyModel } from "../helpers/tiny.ts";

describe("loadModel errors", () => {
    const dir = tempDir();
    const cfg = resolveConfig({ vocabSize: 8, dModel: 8, nLayers: 1, nHeads: 2 });

    it("names an unsupported architecture", () => {
        const file = path.join(dir, "phi.gguf");
        writeGGUF(file, [["general.architecture", kvString("phi3")]], [{ name: "token_embd.weight", ne: [8, 8], type: GGMLType.F32, data: new Float32Array(64) }]);
        expect(() => loadModel(file)).toThrow(/architecture "phi3" is not supported/);
    });

    it("names a missing tensor and a tensor of the wrong shape", () => {
        const file = path.join(dir, "partial.gguf");
        writeGGUF(file, architectureMetadata(cfg), [{ name: "token_embd.weight", ne: [8, 8], type: GGMLType.F32, data: new Float32Array(64) }]);
        expect(() => loadModel(file)).toThrow(/missing tensor "blk\.0\.attn_norm\.weight"/);
        const bad = path.join(dir, "shape.gguf");
        writeGGUF(bad, architectureMetadata(cfg), [
            { name: "token_embd.weight", ne: [8, 8], type: GGMLType.F32, data: new Float32Array(64) },
            { name: "blk.0.attn_norm.weight", ne: [4], type: GGMLType.F32, data: new Float32Array(4) },
        ]);
        expect(() => loadModel(bad)).toThrow(/"blk\.0\.attn_norm\.weight" has shape \[4\], expected \[8\]/);
    });

    it("names a tensor the architecture does not have (e.g. qwen3's q_norm)", () => {
        const file = path.join(dir, "extra.gguf");
        writeGGUF(file, architectureMetadata(cfg), [{ name: "blk.0.attn_q_norm.weight", ne: [4], type: GGMLType.F32, data: new Float32Array(4) }, { name: "token_embd.weight", ne: [8, 8], type: GGMLType.F32, data: new Float32Array(64) }]);
        expect(() => loadModel(file)).toThrow(/"blk\.0\.attn_q_norm\.weight" is not part of a llama model/);
    });

    it("carries the tokenizer and chat template through save and load", () => {
        const m = tinyModel();
        const file = path.join(dir, "rt.gguf");
        m.save(file, { name: "round-trip" });
        const f = readGGUF(file);
        expect(f.metadata.get("tokenizer.chat_template")?.value).toContain("<|im_start|>");
        expect(f.metadata.get("general.name")?.value).toBe("round-trip");
        const back = loadModel(file);
        expect(back.config).toEqual(m.config);
        back.save(path.join(dir, "rt2.gguf"));
        expect(readGGUF(path.join(dir, "rt2.gguf")).metadata.get("tokenizer.ggml.tokens")?.value).toEqual(f.metadata.get("tokenizer.ggml.tokens")?.value);
        back.free();
        m.free();
    });
});
