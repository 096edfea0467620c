/**
 * Kept results: the results files the README and docs quote, kept in the repository (experiments/results/) with
 * their provenance, so that every published number can be traced to the shipped experiment file and models it
 * came from, and a changed input is caught (test/kept-results.test.ts) instead of leaving a stale table.
 *
 * `sublab keep RESULTS FILE` copies a finished run's, sweep's, study's, chain's or population's results.json to
 * experiments/results/<name>.json with a `provenance` block: the command that made it, the sha256 of the
 * experiment file (and of the experiment file a sweep, study, chain or population names) and of every model the
 * configuration uses, the sublab version and git commit, the CPU and when it was kept.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileHash } from "../core/cache.ts";
import { SUBLAB_VERSION } from "../core/version.ts";
import { reviveIntervals } from "../core/verdicts.ts";
import { writeJsonAtomic } from "../util/files.ts";
import { THEOREM_DEFAULTS } from "./theorem.ts";
import type { EntangleResults } from "../core/results.ts";

export const KEPT_DIR = path.join("experiments", "results");

export interface Provenance {
    kind: "run" | "sweep" | "study" | "chain" | "population" | "theorem" | "entangle";
    /** The command that made the results, from the repository root. */
    command: string;
    /** Repository-relative paths and sha256 of the experiment files and models the results came from. */
    inputs: { path: string; sha256: string }[];
    sublabVersion: string;
    commit: string | null;
    cpu: string;
    keptAt: string;
    /**
     * The finished run in the results folder's events.jsonl that took longest: the one that made the stages, when
     * the results file itself comes from a later rerun over cached stages (absent without events).
     */
    madeIn?: { seconds: number; startedAt: string };
}

const KINDS = ["sweep", "study", "chain", "population"] as const;
const COMMANDS: Record<Provenance["kind"], string> = {
    run: "run",
    sweep: "sweep",
    study: "study",
    chain: "chain",
    population: "population",
    theorem: "theorem",
    entangle: "entangle",
};

const FLAG = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** `sublab theorem` with the flags that differ from its defaults: the command that makes these options again. */
function theoremCommand(options: Record<string, unknown>): string {
    const flags = Object.entries(options)
        .filter(([k, v]) => JSON.stringify(v) !== JSON.stringify((THEOREM_DEFAULTS as unknown as Record<string, unknown>)[k]))
        .map(([k, v]) => `${FLAG(k)} ${Array.isArray(v) ? (v.length ? v.join(",") : "none") : String(v)}`);
    return ["node bin/sublab.js theorem", ...flags].join(" ");
}

const rel = (root: string, file: string) => path.relative(root, path.resolve(root, file)).split(path.sep).join("/");

/** Every string ending in .gguf inside a configuration: the models it uses. */
function models(config: unknown, out = new Set<string>()): Set<string> {
    if (typeof config === "string" && config.endsWith(".gguf")) out.add(config);
    else if (Array.isArray(config)) for (const v of config) models(v, out);
    else if (config && typeof config === "object") for (const v of Object.values(config)) models(v, out);
    return out;
}

function gitCommit(root: string): string | null {
    try {
        return execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
        return null;
    }
}

/** The files a results object came from: its experiment file, the experiment file that one names, its models. */
function inputsOf(root: string, file: string, results: Record<string, unknown>): string[] {
    const files = [rel(root, file)];
    const spec = JSON.parse(fs.readFileSync(path.resolve(root, file), "utf8")) as Record<string, unknown>;
    if (typeof spec.experiment === "string") files.push(rel(root, path.join(path.dirname(path.resolve(root, file)), spec.experiment)));
    const config = (results.config ?? results.experiment) as unknown;
    for (const m of models(config)) files.push(rel(root, m));
    return [...new Set(files)];
}

/** The longest finished run recorded in an events.jsonl (its run-start's time and its run-end's seconds). */
function madeIn(events: string): Pick<Provenance, "madeIn"> {
    if (!fs.existsSync(events)) return {};
    let startedAt = "";
    let best: Provenance["madeIn"];
    for (const line of fs.readFileSync(events, "utf8").split("\n")) {
        if (!line.includes('"run-start"') && !line.includes('"run-end"')) continue;
        const e = JSON.parse(line) as { type: string; startedAt?: string; seconds?: number };
        if (e.type === "run-start") startedAt = e.startedAt ?? "";
        else if (e.type === "run-end" && typeof e.seconds === "number" && (!best || e.seconds > best.seconds)) best = { seconds: e.seconds, startedAt };
    }
    return best ? { madeIn: best } : {};
}

/**
 * Copies a results file into experiments/results/ with its provenance; returns where it went. The theorem
 * experiment has no file (its options are in its results, its data procedural): give none.
 */
export function keepResults(root: string, resultsArg: string, experimentFile?: string): { file: string; provenance: Provenance } {
    const resultsFile = fs.existsSync(resultsArg) && fs.statSync(resultsArg).isDirectory() ? path.join(resultsArg, "results.json") : resultsArg;
    if (!fs.existsSync(resultsFile)) throw new Error(`${resultsArg}: no results.json here (give a finished run's folder, runs/<name>, or its results.json)`);
    const results = JSON.parse(fs.readFileSync(resultsFile, "utf8"), reviveIntervals) as Record<string, unknown>;
    if (results.kind === "theorem") {
        if (experimentFile) throw new Error(`${experimentFile}: the theorem experiment is made from its options, not a file; keep it without one`);
        return write(root, "theorem", results, {
            kind: "theorem",
            command: theoremCommand(results.options as Record<string, unknown>),
            inputs: [],
            ...context(root),
            madeIn: { seconds: results.seconds as number, startedAt: results.startedAt as string },
        });
    }
    if (results.kind === "entangle") return keepEntangle(root, resultsFile, results as unknown as EntangleResults, experimentFile);
    if (!experimentFile) throw new Error("keep: give the file that made the results too, e.g. `sublab keep runs/demo experiments/demo.json`");
    if (!fs.existsSync(experimentFile)) throw new Error(`${experimentFile}: no such experiment file`);
    const kind: Provenance["kind"] = KINDS.find((k) => typeof results[k] === "string") ?? "run";
    const name = (kind === "run" ? results.experiment : results[kind]) as string;
    const spec = JSON.parse(fs.readFileSync(experimentFile, "utf8")) as { name?: unknown };
    if (spec.name !== name)
        throw new Error(`${experimentFile}: its name is ${JSON.stringify(spec.name)}, but ${resultsFile} holds the results of ${JSON.stringify(name)}`);
    const inputs = inputsOf(root, experimentFile, results).map((p) => {
        const abs = path.resolve(root, p);
        if (!fs.existsSync(abs)) throw new Error(`${p}: an input of ${resultsFile} that is not in the repository`);
        return { path: p, sha256: fileHash(abs) };
    });
    return write(root, name, results, {
        kind,
        command: `node bin/sublab.js ${COMMANDS[kind]} ${rel(root, experimentFile)}`,
        inputs,
        ...context(root),
        ...madeIn(path.join(path.dirname(resultsFile), "events.jsonl")),
    });
}

/**
 * An entanglement run, kept under its folder's name: the command rebuilt from what it was asked (its experiment
 * file, or its models and trait prompt), the options that differ from the defaults; its inputs hashed.
 */
function keepEntangle(root: string, resultsFile: string, r: EntangleResults, experimentFile?: string): { file: string; provenance: Provenance } {
    const a = r.asked;
    if (!a) throw new Error(`${resultsFile}: an entanglement run from before \`sublab keep\` knew them; run it again to keep it`);
    if (experimentFile && a.experiment && rel(root, experimentFile) !== rel(root, a.experiment))
        throw new Error(`${experimentFile}: ${resultsFile} was made from ${a.experiment}`);
    const name = path.basename(path.dirname(path.resolve(resultsFile)));
    const q = (v: string) => (/^[\w./-]+$/.test(v) ? v : JSON.stringify(v));
    const flags = a.experiment
        ? [`--experiment ${rel(root, a.experiment)}`, `--target ${r.target}`]
        : [
              `--model ${rel(root, r.base)}`,
              `--target ${r.target}`,
              ...(r.teacher.lora
                  ? [`--teacher-lora ${rel(root, r.teacher.lora)}`]
                  : r.teacher.model !== r.base
                    ? [`--teacher-model ${rel(root, r.teacher.model)}`]
                    : []),
              ...(r.teacher.system ? [`--system ${q(r.teacher.system)}`] : []),
          ];
    const defaults = { contexts: 300, top: 10, questions: 20, seed: 1 };
    const options = { contexts: a.contexts, top: a.top, questions: a.questions, seed: r.seed };
    for (const [k, v] of Object.entries(options)) if (v !== defaults[k as keyof typeof defaults]) flags.push(`--${k} ${v}`);
    if (rel(root, a.out) !== `runs/entangle-${r.target}`) flags.push(`--out ${rel(root, a.out)}`);
    // An experiment's teacher is made from its file (a cached fine-tune): the file and its models are the inputs.
    const files = a.experiment
        ? inputsOf(root, a.experiment, { config: JSON.parse(fs.readFileSync(path.resolve(root, a.experiment), "utf8")) })
        : [r.base, r.teacher.model, r.teacher.lora].flatMap((f) => (f ? [rel(root, f)] : []));
    const inputs = [...new Set(files)].map((p) => {
        const abs = path.resolve(root, p);
        if (!fs.existsSync(abs)) throw new Error(`${p}: an input of ${resultsFile} that is not in the repository`);
        return { path: p, sha256: fileHash(abs) };
    });
    return write(root, name, r as unknown as Record<string, unknown>, {
        kind: "entangle",
        command: `node bin/sublab.js entangle ${flags.join(" ")}`,
        inputs,
        ...context(root),
        madeIn: { seconds: r.seconds, startedAt: r.startedAt },
    });
}

/** Where, with what and on what the results are kept: version, commit, CPU, time. */
function context(root: string): Pick<Provenance, "sublabVersion" | "commit" | "cpu" | "keptAt"> {
    return {
        sublabVersion: SUBLAB_VERSION,
        commit: gitCommit(root),
        cpu: `${os.cpus()[0]?.model ?? "unknown"} (${os.cpus().length} cores)`,
        keptAt: new Date().toISOString(),
    };
}

function write(root: string, name: string, results: Record<string, unknown>, provenance: Provenance): { file: string; provenance: Provenance } {
    const file = path.join(root, KEPT_DIR, `${name}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeJsonAtomic(file, { provenance, ...results });
    return { file, provenance };
}

/** Each kept results file whose inputs are not what the repository ships now, with what changed. */
export function staleKept(root: string): string[] {
    const dir = path.join(root, KEPT_DIR);
    if (!fs.existsSync(dir)) return [];
    const out: string[] = [];
    for (const f of fs
        .readdirSync(dir)
        .filter((x) => x.endsWith(".json"))
        .sort()) {
        const file = path.join(KEPT_DIR, f).split(path.sep).join("/");
        const kept = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as { provenance?: Provenance };
        if (!kept.provenance) {
            out.push(`${file}: no provenance (keep results with \`sublab keep\`)`);
            continue;
        }
        for (const input of kept.provenance.inputs) {
            const abs = path.join(root, input.path);
            if (!fs.existsSync(abs))
                out.push(`${file}: ${input.path} is no longer shipped; re-run \`${kept.provenance.command}\` on what is, or remove the numbers`);
            else if (fileHash(abs) !== input.sha256)
                out.push(`${file}: ${input.path} changed since these results were made; re-run \`${kept.provenance.command}\` and keep the new results`);
        }
    }
    return out;
}
