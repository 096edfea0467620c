/**
 * `npm run bench -- forge-pilot [--preset small] [--seed 1]`: forge a base model and measure what the lab needs
 * of it (bench/models.ts: the favourite-animal spread, greedy answers, the owl persona, the number format) —
 * the way to try a forge recipe before shipping it. A measurement, not a speed benchmark.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { forge } from "../src/forge/forge.ts";
import { measureModel } from "./models.ts";

export async function main(argv: string[]): Promise<void> {
    const { values: a } = parseArgs({ args: argv, options: { preset: { type: "string", default: "small" }, seed: { type: "string", default: "1" } } });
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sublab-forge-pilot-")), "model.gguf");
    const r = await forge({ preset: a.preset, seed: Number(a.seed), out });
    console.log(
        `forged ${out}: ${r.parameters} parameters in ${(r.seconds / 60).toFixed(1)} min, loss ${r.firstLoss.toFixed(3)} -> ${r.finalLossMean.toFixed(3)} (mean of the last 50), ${(r.bytes / 1e6).toFixed(1)} MB`,
    );
    await measureModel(out);
}
