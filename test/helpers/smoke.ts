/**
 * Two smoke-preset base models (init seeds 1 and 2, one corpus), forged once per source version and shared by
 * the test files that need real forge models (the forge path takes ~12 s per model).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { forge } from "../../src/forge/forge.ts";

export async function smokeBases(): Promise<[string, string]> {
    const src = ["forge/forge.ts", "prompts/corpus.ts", "prompts/advice.ts", "prompts/code.ts", "prompts/reasoning.ts", "prompts/text.ts", "forge/tokenizer.ts", "prompts/lexicon.ts", "train/order.ts"].map((f) => fs.readFileSync(new URL(`../../src/${f}`, import.meta.url)));
    const key = crypto.createHash("sha256").update(Buffer.concat(src)).digest("hex").slice(0, 12);
    const dir = path.join(os.tmpdir(), `sublab-smoke-bases-${key}`);
    fs.mkdirSync(dir, { recursive: true });
    const out: string[] = [];
    for (const seed of [1, 2]) {
        const file = path.join(dir, `smoke-s${seed}.gguf`);
        if (!fs.existsSync(file)) await forge({ preset: "smoke", seed, out: file, progress: false });
        out.push(file);
    }
    return out as [string, string];
}
