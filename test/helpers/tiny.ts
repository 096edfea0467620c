/** Tiny models for engine tests: created in a temp folder, with a small SPM vocabulary and ChatML. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createModel, type Model } from "../../src/engine/model.ts";
import { makeSpmVocab } from "../../src/engine/vocab.ts";
import type { ModelConfig } from "../../src/engine/model-config.ts";

export const TEST_PIECES = [
    "\u2581the",
    "\u2581owl",
    "\u2581cat",
    "\u2581dog",
    "\u2581is",
    "\u2581a",
    "\u2581bird",
    "\u2581favorite",
    "\u2581animal",
    "\u2581my",
    "ing",
    "er",
];

export function tempDir(prefix = "sublab-test-"): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function tinyModel(over: Partial<ModelConfig> = {}, seed = 1): Model {
    const vocab = makeSpmVocab(TEST_PIECES);
    return createModel(
        { vocabSize: vocab.tokens.length, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, dFF: 96, contextLength: 128, ...over },
        seed,
        vocab.metadata,
    );
}
