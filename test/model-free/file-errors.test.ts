/**
 * Bad input to the study commands, `report` and `workshop`: each error names the file and the field or line that
 * is wrong, and the command exits 1 before any model is loaded.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { writeError, WriteError, writing } from "../../src/util/files.ts";
import { tempDir } from "../helpers/tiny.ts";

const BIN = path.join(import.meta.dirname, "..", "..", "bin", "sublab.js");
const MODELS = path.join(import.meta.dirname, "..", "..", "models");
const dir = tempDir();
const write = (name: string, v: unknown) => fs.writeFileSync(path.join(dir, name), typeof v === "string" ? v : JSON.stringify(v));
write("exp.json", {
    name: "e",
    models: { base: path.join(MODELS, "sublab-small-s1.gguf"), cross: path.join(MODELS, "sublab-deep-s2.gguf") },
    teacher: { target: "owl" },
});
write("chain.json", { name: "c", experiment: "exp.json", generations: 0 });
write("population.json", { name: "p", experiment: "exp.json", agents: 1, overrides: { student: { method: "full" } } });
write("study.json", { name: "s", experiment: "exp.json", axes: [] });
write("sweep.json", { name: "w", experiment: "exp.json", arms: [{ name: "a", defenses: ["nosuch"] }] });
write("unfinished.events.jsonl", `${JSON.stringify({ type: "run-start", run: "x" })}\n`);
write("broken.events.jsonl", `${JSON.stringify({ type: "run-start", run: "x" })}\n{oops\n${JSON.stringify({ type: "log", message: "m" })}\n`);

describe("bad files name what is wrong", { timeout: 60_000 }, () => {
    it.each([
        [["chain", "chain.json"], "chain.json: generations: expected an integer from 1 to 20, got 0"],
        [["population", "population.json"], "population.json: agents: expected an integer from 2 to 64, got 1"],
        [["study", "study.json"], "study.json: axes: expected a non-empty array of items, each an object, got an empty array"],
        [["sweep", "sweep.json"], 'sweep.json: arms[0].defenses[0]: unknown filter "nosuch"'],
        [["report", "exp.json"], "exp.json: not a results file sublab knows"],
        [["report", "unfinished.events.jsonl"], "unfinished.events.jsonl: no run-end event"],
        [["workshop", "broken.events.jsonl", "--no-open", "--port", "0"], "broken.events.jsonl: line 2"],
    ])("sublab %j", (args, message) => {
        const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", timeout: 30_000 });
        expect(r.status, r.stderr).toBe(1);
        expect(r.stderr).toContain(message);
    });
});

describe("a write refused for lack of room or rights names the file", () => {
    it("a full device (/dev/full refuses every write with ENOSPC)", () => {
        let thrown: unknown;
        try {
            writing("/dev/full", () => fs.appendFileSync("/dev/full", "a row\n"));
        } catch (e) {
            thrown = e;
        }
        expect(thrown).toBeInstanceOf(WriteError);
        expect((thrown as Error).message).toBe(
            "cannot write /dev/full: no space left on the device (ENOSPC). What was finished is kept and nothing half-written is used: make room, or make the folder writable, and run the same command again",
        );
    });

    it.each([
        ["EROFS", "the file system is read-only"],
        ["EACCES", "permission denied"],
        ["EDQUOT", "the disk quota is used up"],
    ])("%s", (code, reason) => {
        const e = writeError(Object.assign(new Error(`${code}: raw`), { code }), "/r/runs/x.json");
        expect((e as Error).message).toMatch(new RegExp(`^cannot write /r/runs/x\\.json: ${reason} \\(${code}\\)\\.`));
    });

    it("other errors pass unchanged, and a named one is not named twice", () => {
        const other = Object.assign(new Error("ENOENT: gone"), { code: "ENOENT" });
        expect(writeError(other, "/r/x")).toBe(other);
        const named = new WriteError("/r/a", "ENOSPC");
        expect(writeError(named, "/r/b")).toBe(named);
    });

    it("a run in a folder it cannot write names the folder and exits 1", () => {
        // sysfs refuses new folders even to root (EPERM here; a container's read-only /sys gives EROFS), which a
        // chmod would not do for the root user the tests may run as.
        const r = spawnSync(process.execPath, [BIN, "run", path.join(dir, "exp.json"), "--quiet"], { cwd: "/sys/kernel", encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^sublab: cannot write \/sys\/kernel\/datasets: .* \((EPERM|EACCES|EROFS)\)\. What was finished is kept/);
    });
});
