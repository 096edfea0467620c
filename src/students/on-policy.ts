/**
 * On-policy distillation (student.labels "on-policy"; GKD's on-policy mode, with the forward KL): before each
 * epoch the student, as it is then, writes its own completions of a share lambda of its rows' prompts (the
 * engine's batched decoder, seeded by row and epoch), and the teacher's next-token distributions over the
 * student's tokens are their labels: the soft-label source of each row (the treated student's teacher, the control
 * student's control model). The other rows keep their source's own text and distributions (off-policy soft labels).
 *
 * The student's completions of an epoch are written to its folder before the epoch's first step, so a student
 * resumed mid-epoch trains on the very rows the stopped one did.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChatPrompt } from "../engine/llama-cpp.ts";
import type { Model } from "../engine/model.ts";
import { engineRows } from "../teacher/engine-rows.ts";
import { readJsonl, writeFileAtomic } from "../util/files.ts";
import { Rng, subRng } from "../util/rng.ts";
import type { OnPolicySpec, StudentRow } from "../core/jobs.ts";

/** The rows (indices, ascending) whose completions the student writes in an epoch: round(fraction x n), drawn anew each epoch. */
export function onPolicyChoice(n: number, spec: Pick<OnPolicySpec, "fraction" | "seed">, epoch: number): number[] {
    const k = Math.round(spec.fraction * n);
    if (k >= n) return Array.from({ length: n }, (_, i) => i);
    const rng = new Rng(subRng(spec.seed, `on-policy-choice-${epoch}`).nextU32());
    return rng
        .shuffle(Array.from({ length: n }, (_, i) => i))
        .slice(0, k)
        .sort((a, b) => a - b);
}

/** Where an epoch's completions are kept in a student's folder. */
export const onPolicyFile = (dir: string, epoch: number) => path.join(dir, `on-policy-epoch-${epoch + 1}.jsonl`);

/**
 * The student's completions of `rows`' prompts for an epoch: read from its folder when that epoch was written
 * already, else decoded from `model` (in memory, as training left it) and written there first. Interrupted by
 * `signal`: none, and nothing written.
 */
export async function studentCompletions(
    model: Model,
    modelPath: string,
    rows: readonly StudentRow[],
    spec: OnPolicySpec,
    epoch: number,
    dir: string,
    system: string | null,
    signal?: AbortSignal,
): Promise<{ i: number; completion: string }[]> {
    const file = onPolicyFile(dir, epoch);
    const chosen = onPolicyChoice(rows.length, spec, epoch);
    if (fs.existsSync(file)) {
        const kept = readJsonl<{ i: number; completion: string }>(file);
        if (kept.length === chosen.length && kept.every((x, j) => x.i === chosen[j])) return kept;
        // Another choice of rows (a file from an older recipe): written again below.
    }
    const prompts: ChatPrompt[] = chosen.map((i) => ({ system, user: rows[i]!.prompt }));
    const out = new Array<{ i: number; completion: string }>(chosen.length);
    const seeds = subRng(spec.seed, `on-policy-sampling-${epoch}`).nextU32();
    const res = await engineRows({
        model: modelPath,
        loaded: model,
        prompts,
        samplesPerPrompt: 1,
        temperature: spec.temperature,
        maxTokens: spec.maxTokens,
        seedOf: (j) => (Math.imul(seeds ^ chosen[j]!, 0x9e3779b1) + chosen[j]!) >>> 0,
        sampler: "coupled",
        signal,
        onRow: (r) => (out[r.i] = { i: chosen[r.i]!, completion: r.completion }),
    });
    // Stopped part-way: nothing kept (the trainer sees the signal and takes no step).
    if (res.interrupted) return [];
    writeFileAtomic(file, out.map((x) => JSON.stringify(x)).join("\n") + "\n");
    return out;
}
