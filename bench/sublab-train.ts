/**
 * sublab's own engine in `npm run bench -- train`: the same tiny Llama, token stream and optimizer (AdamW,
 * lr 1e-3, batch 1 row of T tokens, all positions trained) through src/students/trainer.ts. Prints one BenchResult line.
 *
 *   npx tsx bench/sublab-train.ts --config small [--seconds 15] [--threads 2]
 */
import { parseArgs } from "node:util";
import { getGgml } from "../src/engine/ggml.ts";
import { countParameters } from "../src/engine/model-config.ts";
import { createModel } from "../src/engine/model.ts";
import { train } from "../src/students/trainer.ts";
import { type TrainExample } from "../src/students/trainer-types.ts";
import { CONFIGS, median, resourceFields, T, THREADS, tokenRows, VOCAB, type BenchResult, type ConfigName } from "./train-common.ts";

const { values: args } = parseArgs({
    options: {
        config: { type: "string", default: "small" },
        seconds: { type: "string", default: "15" },
        threads: { type: "string", default: String(THREADS) },
        // llama_opt_epoch never trains the token embedding; this makes the same choice for a like-for-like row.
        "freeze-embd": { type: "boolean", default: false },
    },
});
const configName = args.config as ConfigName;
const c = CONFIGS[configName];
if (!c) throw new Error(`--config: unknown config "${args.config}"`);
const g = getGgml({ threads: Number(args.threads) });
const model = createModel({ vocabSize: VOCAB, contextLength: T, ...c }, 1);

function rows(n: number, skip: number): TrainExample[] {
    const flat = tokenRows(n, skip);
    return Array.from({ length: n }, (_, i) => {
        const tokens = flat.slice(i * (T + 1), (i + 1) * (T + 1));
        return { tokens, targetMask: Uint8Array.from(tokens, (_, j) => (j ? 1 : 0)) };
    });
}

/** Train on `n` rows, one per step, stopping after `seconds`; returns each step's milliseconds and the mean loss. */
async function run(n: number, skip: number, seconds = Infinity) {
    const stepMs: number[] = [];
    const stop = new AbortController();
    const t0 = performance.now();
    const r = await train(model, rows(n, skip), {
        mode: "full",
        lr: 1e-3,
        warmupSteps: 0,
        schedule: "constant",
        gradClip: 0,
        batchSize: 1,
        trainable: args["freeze-embd"] ? (name) => name !== "token_embd.weight" : undefined,
        signal: stop.signal,
        onStep: (s) => {
            stepMs.push(s.stepMs);
            if (performance.now() - t0 > seconds * 1000) stop.abort();
        },
    });
    return { stepMs, loss: r.losses.reduce((a, b) => a + b, 0) / r.losses.length };
}

const WARMUP_ROWS = 3;
const warm = await run(WARMUP_ROWS, 0);
// As many rows as the target time needs, judged from the last warm-up step (plus a margin; the run stops on time).
const nRows = Math.max(3, Math.ceil((1.5 * Number(args.seconds) * 1000) / warm.stepMs.at(-1)!));
const timed = await run(nRows, WARMUP_ROWS, Number(args.seconds));
const totalMs = timed.stepMs.reduce((a, b) => a + b, 0);
const params = countParameters(model.config);
const result: BenchResult = {
    engine: args["freeze-embd"] ? "sublab (embd frozen)" : "sublab",
    config: configName,
    params,
    tokens_per_s: T / (median(timed.stepMs) / 1000),
    step_ms_median: median(timed.stepMs),
    ...resourceFields(),
    steps: timed.stepMs.length,
    tokens_per_s_mean: (T * timed.stepMs.length) / (totalMs / 1000),
    loss_mean: timed.loss,
    version: `sublab engine on ${g.deviceDescription}, ${g.threads} threads`,
};
model.free();
console.log(JSON.stringify(result));
