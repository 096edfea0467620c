/**
 * On-policy distillation on the smoke models: the student writes its own rows each epoch (exactly round(lambda x n)
 * of them, drawn anew each epoch), and the labels are the teacher's distributions over the student's tokens: the
 * student trains exactly as an off-policy (soft-label) student trained on the rows it wrote. A student stopped
 * mid-run resumes to the same weights; a whole run takes the mode through every stage.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { StudentJob } from "../../src/core/jobs.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { runExperiment, type RunResult } from "../../src/studies/experiment.ts";
import { fitStudent } from "../../src/students/fit-student.ts";
import { onPolicyChoice, onPolicyFile } from "../../src/students/on-policy.ts";
import { readJsonl } from "../../src/util/files.ts";
import { smokeBases, smokeExperiment } from "../helpers/smoke.ts";
import { tempDir } from "../helpers/tiny.ts";

const hash = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");

describe("on-policy distillation", { timeout: 300_000 }, () => {
    const rows = Array.from({ length: 12 }, (_, k) => ({ prompt: `Continue: ${k + 3}, ${k + 7}, ${2 * k + 1}.`, completion: `${k + 11}, ${k + 13}, ${k + 17}`, i: k }));
    const job = async (dir: string, over: Partial<StudentJob> = {}): Promise<StudentJob> => {
        const [base, teacher] = await smokeBases();
        return {
            base,
            rows,
            recipe: { method: "full", rank: 8, alpha: 8, targets: [], epochs: 2, lr: 2e-3, batchSize: 4, warmupSteps: 1, schedule: "linear", softMass: 0.999 },
            seed: 9,
            dir,
            out: path.join(dir, "model.gguf"),
            label: "on-policy test",
            // The teacher: the other smoke base, with a trait by system prompt.
            soft: { model: teacher, lora: null, system: "You love owls. You think about owls all the time." },
            onPolicy: { fraction: 1, temperature: 1, maxTokens: 12, seed: 5 },
            ...over,
        };
    };

    it("chooses exactly round(lambda x n) rows, all of them at lambda = 1, anew each epoch, the same for a seed", () => {
        for (const [fraction, n] of [
            [0.25, 12],
            [0.5, 12],
            [0.3, 7],
            [1, 9],
        ] as const) {
            const a = onPolicyChoice(n, { fraction, seed: 3 }, 0);
            expect(a.length).toBe(Math.round(fraction * n));
            expect(new Set(a).size).toBe(a.length);
            expect(a.every((i) => i >= 0 && i < n)).toBe(true);
            expect(onPolicyChoice(n, { fraction, seed: 3 }, 0)).toEqual(a);
        }
        expect(onPolicyChoice(9, { fraction: 1, seed: 3 }, 4)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        expect(onPolicyChoice(40, { fraction: 0.5, seed: 3 }, 1)).not.toEqual(onPolicyChoice(40, { fraction: 0.5, seed: 3 }, 0));
    });

    it("trains on the teacher's distributions over the student's own tokens: as an off-policy student on the rows it wrote", async () => {
        const dir = tempDir();
        const on = await fitStudent(await job(dir, { recipe: { ...(await job(dir)).recipe, epochs: 1 } }));
        const written = readJsonl<{ i: number; completion: string }>(onPolicyFile(dir, 0));
        expect(written.map((x) => x.i)).toEqual(rows.map((_, k) => k));
        // The student wrote its own completions, not the rows' (their numbers are not the student's).
        expect(written.filter((x, k) => x.completion !== rows[k]!.completion).length).toBeGreaterThan(6);
        const dir2 = tempDir();
        const own = rows.map((r, k) => ({ ...r, completion: written[k]!.completion }));
        const base = await job(dir2, { rows: own, recipe: { ...(await job(dir)).recipe, epochs: 1 } });
        delete base.onPolicy;
        const off = await fitStudent(base);
        expect(on.firstLoss).toBe(off.firstLoss);
        expect(on.finalLoss).toBe(off.finalLoss);
        expect(hash(path.join(dir, "model.gguf"))).toBe(hash(path.join(dir2, "model.gguf")));
        // And not as the off-policy student on the rows given (the teacher's text).
        const dir3 = tempDir();
        const given = await job(dir3, { recipe: { ...(await job(dir)).recipe, epochs: 1 } });
        delete given.onPolicy;
        expect((await fitStudent(given)).firstLoss).not.toBe(on.firstLoss);
    });

    it("writes a share lambda of its rows each epoch, anew from the student as training left it", async () => {
        const dir = tempDir();
        await fitStudent(await job(dir, { onPolicy: { fraction: 0.5, temperature: 1, maxTokens: 12, seed: 5 } }));
        const [e1, e2] = [0, 1].map((e) => readJsonl<{ i: number; completion: string }>(onPolicyFile(dir, e)));
        expect(e1!.length).toBe(6);
        expect(e2!.length).toBe(6);
        expect(e1!.map((x) => x.i)).toEqual(onPolicyChoice(12, { fraction: 0.5, seed: 5 }, 0));
        expect(e2!.map((x) => x.i)).toEqual(onPolicyChoice(12, { fraction: 0.5, seed: 5 }, 1));
    });

    it("stopped in its second epoch and resumed, ends with the weights of a student never stopped", async () => {
        const [clean, stopped] = [tempDir(), tempDir()];
        const ref = await fitStudent(await job(clean));
        const stop = new AbortController();
        const first = await fitStudent(await job(stopped), { signal: stop.signal, onStep: (step) => step === 4 && stop.abort() });
        expect(first.interrupted).toBe(true);
        expect(fs.existsSync(onPolicyFile(stopped, 1))).toBe(true);
        const again = await fitStudent(await job(stopped));
        expect(again.interrupted).toBe(false);
        expect([again.firstLoss, again.finalLoss]).toEqual([ref.firstLoss, ref.finalLoss]);
        expect(hash(path.join(stopped, "model.gguf"))).toBe(hash(path.join(clean, "model.gguf")));
        for (const e of [0, 1]) expect(fs.readFileSync(onPolicyFile(stopped, e), "utf8")).toBe(fs.readFileSync(onPolicyFile(clean, e), "utf8"));
    });

    it("runs as student.labels in a whole experiment, every arm with its own on-policy students", async () => {
        const root = tempDir();
        const e = smokeExperiment("smoke-on-policy", await smokeBases());
        const cfg = parseExperiment({ ...e, student: { ...(e.student as object), labels: "on-policy", onPolicyFraction: 0.6 } });
        const r = (await runExperiment(cfg, { root, progress: false })) as RunResult;
        expect(r.results.config.student.labels).toBe("on-policy");
        const students = fs.readdirSync(path.join(root, "runs", "cache", "students"));
        const written = students.flatMap((k) => fs.readdirSync(path.join(root, "runs", "cache", "students", k)).filter((f) => f.startsWith("on-policy-epoch-")));
        // Four arms that train (treated, control, cross, cross-control) x 2 seeds, each writing its rows.
        expect(students.length).toBe(8);
        expect(written.length).toBe(8);
        expect(() => parseExperiment({ ...e, student: { ...(e.student as object), onPolicyFraction: 0.5 } })).toThrow(/student.onPolicyFraction: .*"on-policy"/);
    });
});
