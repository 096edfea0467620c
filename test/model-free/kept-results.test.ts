/**
 * Every kept results file (experiments/results/, quoted by the README) still matches the experiment files and
 * models it came from; and the check names a kept file whose input changed (shown on a copy of the repository's).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { KEPT_DIR, keepResults, staleKept } from "../../src/studies/kept.ts";
import { THEOREM_DEFAULTS } from "../../src/studies/theorem.ts";
import { tempDir } from "../helpers/tiny.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

/** A repository with two models and an experiment file naming them. */
function toyRepo(): { root: string; spec: { name: string; models: { base: string; cross: string } } } {
    const root = tempDir();
    fs.mkdirSync(path.join(root, "experiments"), { recursive: true });
    fs.mkdirSync(path.join(root, "models"));
    fs.writeFileSync(path.join(root, "models", "a.gguf"), "model a");
    fs.writeFileSync(path.join(root, "models", "b.gguf"), "model b");
    const spec = { name: "toy", models: { base: "models/a.gguf", cross: "models/b.gguf" } };
    fs.writeFileSync(path.join(root, "experiments", "toy.json"), JSON.stringify(spec));
    return { root, spec };
}

describe("kept results", () => {
    it("every kept results file matches the shipped experiment files and models (re-run and `sublab keep` what changed)", () => {
        expect(fs.readdirSync(path.join(ROOT, KEPT_DIR)).filter((f) => f.endsWith(".json")).length).toBeGreaterThan(0);
        expect(staleKept(ROOT)).toEqual([]);
    });

    it("names a kept file whose experiment file or model changed, or is gone", () => {
        const { root, spec } = toyRepo();
        fs.mkdirSync(path.join(root, "runs", "toy"), { recursive: true });
        fs.writeFileSync(
            path.join(root, "runs", "toy", "results.json"),
            JSON.stringify({ experiment: "toy", config: spec, comparisons: [{ ci95: [-Infinity, 1] }] }),
        );
        // Its events: the run that made it (90 s), then a rerun over the cache (2 s) that wrote this results file.
        const ev = (e: object) => JSON.stringify(e);
        fs.writeFileSync(
            path.join(root, "runs", "toy", "events.jsonl"),
            [
                ev({ type: "run-start", startedAt: "2026-01-01T00:00:00Z" }),
                ev({ type: "run-end", seconds: 90 }),
                ev({ type: "run-start", startedAt: "2026-01-02T00:00:00Z" }),
                ev({ type: "run-end", seconds: 2 }),
            ].join("\n") + "\n",
        );
        const kept = keepResults(root, path.join(root, "runs", "toy"), path.join(root, "experiments", "toy.json"));
        expect(kept.provenance.madeIn).toEqual({ seconds: 90, startedAt: "2026-01-01T00:00:00Z" });
        expect(kept.provenance.inputs.map((i) => i.path)).toEqual(["experiments/toy.json", "models/a.gguf", "models/b.gguf"]);
        expect(kept.provenance.command).toBe("node bin/sublab.js run experiments/toy.json");
        expect(staleKept(root)).toEqual([]);
        fs.writeFileSync(path.join(root, "models", "a.gguf"), "model a, retrained");
        expect(staleKept(root)).toEqual([
            `${KEPT_DIR}/toy.json: models/a.gguf changed since these results were made; re-run \`node bin/sublab.js run experiments/toy.json\` and keep the new results`,
        ]);
        fs.rmSync(path.join(root, "models", "b.gguf"));
        expect(staleKept(root)[1]).toMatch(/toy\.json: models\/b\.gguf is no longer shipped/);
        // A results file of another experiment is refused, naming both.
        expect(() => keepResults(root, path.join(root, "runs", "toy"), path.join(root, "models", "a.gguf"))).toThrow();
        fs.writeFileSync(path.join(root, "experiments", "other.json"), JSON.stringify({ name: "other" }));
        expect(() => keepResults(root, path.join(root, "runs", "toy"), path.join(root, "experiments", "other.json"))).toThrow(
            /its name is "other", but .* holds the results of "toy"/,
        );
    });

    it("keeps the theorem experiment's results without a file, with the command that makes its options again", () => {
        const root = tempDir();
        fs.mkdirSync(path.join(root, "runs", "theorem"), { recursive: true });
        const options = { ...THEOREM_DEFAULTS, seeds: 4, initNoise: [] };
        fs.writeFileSync(
            path.join(root, "runs", "theorem", "results.json"),
            JSON.stringify({ kind: "theorem", options, seconds: 480, startedAt: "2026-01-01T00:00:00Z", comparisons: [] }),
        );
        const kept = keepResults(root, path.join(root, "runs", "theorem"));
        expect(kept.file).toBe(path.join(root, KEPT_DIR, "theorem.json"));
        expect(kept.provenance.command).toBe("node bin/sublab.js theorem --seeds 4 --init-noise none");
        expect(kept.provenance.inputs).toEqual([]);
        expect(kept.provenance.madeIn).toEqual({ seconds: 480, startedAt: "2026-01-01T00:00:00Z" });
        expect(() => keepResults(root, path.join(root, "runs", "theorem"), "experiments/demo.json")).toThrow("made from its options, not a file");
    });

    it("keeps an entanglement run under its folder's name, with the command rebuilt from what it was asked", () => {
        const { root } = toyRepo();
        const write = (dir: string, r: object) => {
            fs.mkdirSync(path.join(root, dir), { recursive: true });
            fs.writeFileSync(path.join(root, dir, "results.json"), JSON.stringify({ kind: "entangle", seconds: 20, startedAt: "2026-01-01T00:00:00Z", ...r }));
        };
        // From an experiment: its file and models are the inputs (its fine-tuned teacher is a cached stage).
        write("runs/entangle-owl", {
            base: "models/a.gguf",
            teacher: { model: "runs/cache/teachers/x/model.gguf", lora: null, system: null },
            target: "owl",
            seed: 1,
            asked: { experiment: "experiments/toy.json", contexts: 300, top: 10, questions: 20, out: "runs/entangle-owl" },
        });
        const kept = keepResults(root, path.join(root, "runs", "entangle-owl"));
        expect(kept.file).toBe(path.join(root, KEPT_DIR, "entangle-owl.json"));
        expect(kept.provenance.command).toBe("node bin/sublab.js entangle --experiment experiments/toy.json --target owl");
        expect(kept.provenance.inputs.map((i) => i.path)).toEqual(["experiments/toy.json", "models/a.gguf", "models/b.gguf"]);
        // A prompted teacher on a model, with options that differ from the defaults and its own folder.
        write("runs/entangle-otter-prompted", {
            base: "models/a.gguf",
            teacher: { model: "models/a.gguf", lora: null, system: "You love otters." },
            target: "otter",
            seed: 3,
            asked: { experiment: null, contexts: 100, top: 10, questions: 20, out: "runs/entangle-otter-prompted" },
        });
        const prompted = keepResults(root, path.join(root, "runs", "entangle-otter-prompted"));
        expect(prompted.provenance.command).toBe(
            'node bin/sublab.js entangle --model models/a.gguf --target otter --system "You love otters." --contexts 100 --seed 3 --out runs/entangle-otter-prompted',
        );
        expect(prompted.provenance.inputs.map((i) => i.path)).toEqual(["models/a.gguf"]);
        // A run from before it recorded what it was asked cannot be kept.
        write("runs/entangle-old", { base: "models/a.gguf", teacher: { model: "models/a.gguf", lora: null, system: null }, target: "owl", seed: 1 });
        expect(() => keepResults(root, path.join(root, "runs", "entangle-old"))).toThrow(/run it again to keep it/);
    });
});
