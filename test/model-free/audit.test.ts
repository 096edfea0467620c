/** `sublab audit`: the cosine of a student's parameter change with each candidate teacher's, on GGUFs written here (audit-models.test.ts: the data audit and the answer shifts on real models). */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { teacherCosines } from "../../src/studies/provenance-audit.ts";
import { GGMLType, kvString, writeGGUF } from "../../src/engine/gguf.ts";
import { Rng } from "../../src/util/rng.ts";
import { tempDir } from "../helpers/tiny.ts";

const dir = tempDir();
const rng = new Rng(3);
const noise = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * rng.normal());
const SHAPES: [string, number[]][] = [
    ["a.weight", [16, 8]],
    ["b.weight", [32]],
];

/** A GGUF whose tensors are `base` plus the given changes (each a list of per-tensor deltas, scaled). */
function write(name: string, base: Float32Array[], parts: [Float32Array[], number][] = [], type: GGMLType.F32 | GGMLType.F16 = GGMLType.F32): string {
    const file = path.join(dir, `${name}.gguf`);
    const tensors = SHAPES.map(([n, ne], k) => {
        const data = Float32Array.from(base[k]!);
        for (const [d, s] of parts) for (let i = 0; i < data.length; i++) data[i]! += s * d[k]![i]!;
        return { name: n, ne, type, data };
    });
    writeGGUF(file, [["general.architecture", kvString("llama")]], tensors);
    return file;
}

describe("teacherCosines", () => {
    const size = (ne: number[]) => ne.reduce((a, b) => a * b, 1);
    const base = SHAPES.map(([, ne]) => noise(size(ne), 1));
    const d1 = SHAPES.map(([, ne]) => noise(size(ne), 0.1));
    const d2 = SHAPES.map(([, ne]) => noise(size(ne), 0.1));
    const own = SHAPES.map(([, ne]) => noise(size(ne), 0.1));
    const b = write("base", base);
    const t1 = write("t1", base, [[d1, 1]]);
    const t2 = write("t2", base, [[d2, 1]]);

    it("ranks first the teacher whose change the student shares, and gives unrelated changes a cosine near 0", () => {
        const student = write("s1", base, [
            [d1, 0.3],
            [own, 0.3],
        ]);
        const r = teacherCosines(b, student, [t2, t1]);
        expect(r.teachers.map((t) => t.teacher)).toEqual([t1, t2]);
        // cos(d1 + own, d1) = 1/sqrt(2) for independent equal-size changes; 200 parameters give a few hundredths of noise.
        expect(r.teachers[0]!.cosine).toBeGreaterThan(0.55);
        expect(r.teachers[0]!.cosine).toBeLessThan(0.85);
        expect(Math.abs(r.teachers[1]!.cosine)).toBeLessThan(0.25);
        expect(r.parameters).toBe(160);
    });

    it("gives -1 for a student that moved against a teacher, and 0 for one that did not move (f16 files too)", () => {
        expect(teacherCosines(b, write("against", base, [[d1, -0.5]]), [t1]).teachers[0]!.cosine).toBeCloseTo(-1, 5);
        const bh = write("baseh", base, [], GGMLType.F16);
        const still = teacherCosines(bh, write("still", base, [], GGMLType.F16), [write("t1h", base, [[d1, 1]], GGMLType.F16)]);
        expect(still.teachers[0]!.cosine).toBe(0);
    });

    it("fails naming the file and tensor when a model is not a fine-tune of the base", () => {
        const other = path.join(dir, "other.gguf");
        writeGGUF(other, [["general.architecture", kvString("llama")]], [{ name: "a.weight", ne: [8, 8], type: GGMLType.F32, data: noise(64, 1) }]);
        expect(() => teacherCosines(b, other, [t1])).toThrow(
            `audit: student ${other} is not a full fine-tune of the base ${b}: tensor "a.weight" is shaped 8x8, not 16x8`,
        );
        expect(() => teacherCosines(b, t1, [])).toThrow("give at least one candidate teacher");
    });

    it("sublab audit prints the candidates, best first, and fails on a missing file", { timeout: 30_000 }, () => {
        const student = write("s2", base, [[d2, 0.5]]);
        const run = (...args: string[]) => spawnSync(process.execPath, ["bin/sublab.js", "audit", ...args], { encoding: "utf8" });
        const r = run("--base", b, "--student", student, "--teacher", t1, "--teacher", t2);
        expect(r.status, r.stderr).toBe(0);
        const lines = r.stdout.trim().split("\n");
        expect(lines[0]).toMatch(/over 160 parameters/);
        expect(lines[1]).toContain(t2);
        expect(lines[1]).toMatch(/cos {2}1\.0000/);
        const missing = run("--base", b, "--student", path.join(dir, "nope.gguf"), "--teacher", t1);
        expect(missing.status).toBe(1);
        expect(missing.stderr).toContain("--student: no such file");
    });
});
