import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    copyMetadata,
    f16ToF32,
    f32ToF16,
    getMeta,
    getMetaRequired,
    GGMLType,
    ggmlTypeName,
    GGUF_KEY_ALIGNMENT,
    type GGUFFile,
    type GGUFKV,
    GGUFValueType,
    kvArray,
    kvBool,
    kvF32,
    kvF32Array,
    kvI32,
    kvI32Array,
    kvScalar,
    kvString,
    kvStringArray,
    kvU32,
    kvU64,
    readGGUF,
    readTensorF32,
    writeGGUF,
    type GGUFWriteTensor,
} from "../../src/engine/gguf.ts";

let dir = "";
let fileCounter = 0;
const tmpFile = (label: string) => join(dir, `${label}-${fileCounter++}.gguf`);

beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sublab-gguf-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic pseudo-random values in [-scale, scale). */
function randomValues(n: number, seed: number, scale = 10): Float32Array {
    let s = seed >>> 0;
    return Float32Array.from({ length: n }, () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return (s / 2 ** 32 - 0.5) * 2 * scale;
    });
}

/** Little-endian byte builder for GGUF files made by hand, independently of the writer. */
class Bytes {
    private parts: Uint8Array[] = [];
    private size = 0;

    raw(b: Uint8Array): this {
        this.parts.push(b);
        this.size += b.length;
        return this;
    }
    u32(n: number): this {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(n);
        return this.raw(b);
    }
    u64(n: number): this {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(BigInt(n));
        return this.raw(b);
    }
    str(s: string): this {
        const b = Buffer.from(s, "utf8");
        return this.u64(b.length).raw(b);
    }
    padTo(alignment: number): this {
        return this.raw(Buffer.alloc((alignment - (this.size % alignment)) % alignment));
    }
    build(): Buffer {
        return Buffer.concat(this.parts);
    }
}

interface HandTensor {
    name: string;
    ne: number[];
    type: number;
}

/** A v3 file with the given raw metadata, one tensor per entry at consecutive 32-aligned offsets, and `data`. */
function handMadeGGUF(tensors: HandTensor[], data: Uint8Array, kvCount = 0, kvBytes: Uint8Array = new Uint8Array(0)): Buffer {
    const b = new Bytes().raw(Buffer.from("GGUF")).u32(3).u64(tensors.length).u64(kvCount).raw(kvBytes);
    tensors.forEach((t, i) => {
        b.str(t.name).u32(t.ne.length);
        t.ne.forEach((n) => b.u64(n));
        b.u32(t.type).u64(i * 32);
    });
    return b.padTo(32).raw(data).build();
}

function writeHandMade(label: string, bytes: Buffer): string {
    const path = tmpFile(label);
    writeFileSync(path, bytes);
    return path;
}

/** Single-value wrappers around the exported array converters. */
const halfToFloat = (bits: number) => f16ToF32(Uint16Array.of(bits))[0];
const floatToHalf = (x: number) => f32ToF16(Float32Array.of(x))[0];

describe("f32 <-> f16", () => {
    it.each([
        ["1.0", 1.0, 0x3c00],
        ["-2", -2, 0xc000],
        ["largest finite 65504", 65504, 0x7bff],
        ["smallest normal 2^-14", 2 ** -14, 0x0400],
        ["largest subnormal", 1023 * 2 ** -24, 0x03ff],
        ["smallest subnormal 2^-24", 2 ** -24, 0x0001],
        ["+0", 0, 0x0000],
        ["-0", -0, 0x8000],
        ["+inf", Infinity, 0x7c00],
        ["-inf", -Infinity, 0xfc00],
        ["0.1 (rounded)", 0.1, 0x2e66],
        ["tie 1 + 2^-11 rounds to even (down)", 1 + 2 ** -11, 0x3c00],
        ["tie 1 + 3*2^-11 rounds to even (up)", 1 + 3 * 2 ** -11, 0x3c02],
        ["just above a tie rounds up", 1 + 2 ** -11 + 2 ** -20, 0x3c01],
        ["65520 (tie above max) overflows to inf", 65520, 0x7c00],
        ["1e6 overflows to inf", 1e6, 0x7c00],
        ["2^-25 (tie with zero) rounds to +0", 2 ** -25, 0x0000],
        ["1.5 * 2^-25 rounds to smallest subnormal", 1.5 * 2 ** -25, 0x0001],
        ["3 * 2^-25 (subnormal tie) rounds to even", 3 * 2 ** -25, 0x0002],
        ["1e-10 underflows to +0", 1e-10, 0x0000],
        ["largest subnormal + half ulp carries into smallest normal", 1023.5 * 2 ** -24, 0x0400],
    ])("f32ToF16 %s", (_label, value, bits) => {
        expect(floatToHalf(value)).toBe(bits);
    });

    it("f32ToF16 maps NaN to a NaN", () => {
        const bits = floatToHalf(NaN);
        expect(bits & 0x7c00).toBe(0x7c00);
        expect(bits & 0x03ff).not.toBe(0);
    });

    it.each([
        [0x3c00, 1],
        [0xc000, -2],
        [0x7bff, 65504],
        [0x0400, 2 ** -14],
        [0x03ff, 1023 * 2 ** -24],
        [0x0001, 2 ** -24],
        [0x8000, -0],
        [0x7c00, Infinity],
        [0xfc00, -Infinity],
        [0x7e00, NaN],
        [0x3555, 0.333251953125],
    ])("f16ToF32 0x%s", (bits, value) => {
        expect(Object.is(halfToFloat(bits), value)).toBe(true);
    });

    it("every non-NaN f16 survives f16 -> f32 -> f16 exactly", () => {
        const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
        const back = f32ToF16(f16ToF32(all));
        const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
        const mismatches = [...all].filter((h) => !isNaN16(h) && back[h] !== h);
        expect(mismatches).toEqual([]);
    });
});

describe("metadata", () => {
    const entries: [string, GGUFKV, GGUFKV["value"]][] = [
        ["t.u8", kvScalar(GGUFValueType.UINT8, 255), 255],
        ["t.i8", kvScalar(GGUFValueType.INT8, -128), -128],
        ["t.u16", kvScalar(GGUFValueType.UINT16, 65535), 65535],
        ["t.i16", kvScalar(GGUFValueType.INT16, -32768), -32768],
        ["t.u32", kvU32(4294967295), 4294967295],
        ["t.i32", kvI32(-2147483648), -2147483648],
        ["t.f32", kvF32(0.1), Math.fround(0.1)],
        ["t.bool.true", kvBool(true), true],
        ["t.bool.false", kvBool(false), false],
        ["t.string", kvString("héllo ✓ wörld"), "héllo ✓ wörld"],
        ["t.string.empty", kvString(""), ""],
        ["t.u64", kvU64(2n ** 64n - 1n), 2n ** 64n - 1n],
        ["t.i64", kvScalar(GGUFValueType.INT64, -(2n ** 63n)), -(2n ** 63n)],
        ["t.f64", kvScalar(GGUFValueType.FLOAT64, Math.PI), Math.PI],
        ["t.arr.string", kvStringArray(["a", "", "ü", "<|endoftext|>"]), ["a", "", "ü", "<|endoftext|>"]],
        ["t.arr.f32", kvF32Array([1.5, -0.25, 0.1]), [1.5, -0.25, Math.fround(0.1)]],
        ["t.arr.i32", kvI32Array([1, -2, 2147483647]), [1, -2, 2147483647]],
        ["t.arr.u8", kvArray(GGUFValueType.UINT8, [0, 7, 255]), [0, 7, 255]],
        ["t.arr.bool", kvArray(GGUFValueType.BOOL, [true, false]), [true, false]],
        ["t.arr.u64", kvArray(GGUFValueType.UINT64, [0n, 2n ** 64n - 1n]), [0n, 2n ** 64n - 1n]],
        ["t.arr.f64", kvArray(GGUFValueType.FLOAT64, [Math.E]), [Math.E]],
        ["t.arr.empty", kvArray(GGUFValueType.INT16, []), []],
    ];
    let path = "";
    let file: GGUFFile;
    beforeAll(() => {
        path = tmpFile("meta");
        writeGGUF(
            path,
            entries.map(([key, kv]) => [key, kv]),
            [],
        );
        file = readGGUF(path);
    });

    it("reads back the header", () => {
        expect(file.version).toBe(3);
        expect(file.alignment).toBe(32);
        expect(file.tensors).toEqual([]);
        expect([...file.metadata.keys()]).toEqual(entries.map(([key]) => key));
    });

    it.each(entries)("round trips %s", (key, kv, expected) => {
        expect(file.metadata.get(key)).toEqual({ ...kv, value: expected });
        expect(getMeta(file, key)).toEqual(expected);
    });

    it("round trips metadata larger than the reader's chunk and the writer's initial buffer", () => {
        const tokens = Array.from({ length: 100_000 }, (_, i) => `tok${i}`);
        const long = "λ".repeat(1_500_000); // 3 MB of UTF-8 in one string
        const big = tmpFile("meta-big");
        const data = randomValues(40, 5);
        writeGGUF(
            big,
            [
                ["tokens", kvStringArray(tokens)],
                ["long", kvString(long)],
            ],
            [{ name: "after", ne: [40], type: GGMLType.F32, data }],
        );
        const read = readGGUF(big);
        expect(getMeta(read, "tokens")).toEqual(tokens);
        expect(getMeta<string>(read, "long") === long).toBe(true);
        expect(readTensorF32(read, "after")).toEqual(data);
    });

    it("getMetaRequired names the missing key and the file", () => {
        expect(getMetaRequired<string>(file, "t.string")).toBe("héllo ✓ wörld");
        expect(() => getMetaRequired(file, "no.such.key")).toThrow(`"no.such.key" in GGUF file ${path}`);
    });

    it("copyMetadata filters keys and can be written again", () => {
        const copy = copyMetadata(file, (key) => !key.startsWith("t.arr"));
        expect(copy.map(([key]) => key)).toEqual(entries.map(([key]) => key).filter((k) => !k.startsWith("t.arr")));
        const again = tmpFile("meta-copy");
        writeGGUF(again, copy, []);
        expect(readGGUF(again).metadata).toEqual(new Map(copy));
    });
});

describe("tensors", () => {
    const shapes = [[7], [5, 3], [2, 3, 4], [1, 1, 1, 33]];
    const tensors: GGUFWriteTensor[] = shapes.flatMap((ne, i) => {
        const n = ne.reduce((a, b) => a * b, 1);
        return [
            { name: `f32.${i}`, ne, type: GGMLType.F32, data: randomValues(n, 2 * i + 1) },
            { name: `f16.${i}`, ne, type: GGMLType.F16, data: randomValues(n, 2 * i + 2) },
        ];
    });

    it.each([32, 64])("round trips F32 exactly and F16 within f16 precision, alignment %i", (alignment) => {
        const path = tmpFile(`tensors-${alignment}`);
        writeGGUF(path, [["general.name", kvString("t")]], tensors, { alignment });
        const file = readGGUF(path);
        expect(file.alignment).toBe(alignment);
        expect(getMeta(file, GGUF_KEY_ALIGNMENT)).toBe(alignment === 32 ? undefined : alignment);
        expect(file.dataOffset % alignment).toBe(0);
        for (const [i, t] of tensors.entries()) {
            const info = file.tensors[i];
            expect(info).toMatchObject({ name: t.name, ne: t.ne, type: t.type });
            expect(info.nbytes).toBe(t.data.length * (t.type === GGMLType.F32 ? 4 : 2));
            expect((file.dataOffset + info.offset) % alignment).toBe(0);
            const got = readTensorF32(file, t.name);
            const want = t.type === GGMLType.F32 ? t.data : f16ToF32(f32ToF16(t.data));
            expect(got).toEqual(want);
            t.data.forEach((x, j) => expect(Math.abs(got[j] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11));
        }
        const last = file.tensors.at(-1)!;
        expect(statSync(path).size).toBe(file.dataOffset + last.offset + Math.ceil(last.nbytes / alignment) * alignment);
    });

    it("honours general.alignment given in the metadata", () => {
        const path = tmpFile("meta-alignment");
        writeGGUF(path, [[GGUF_KEY_ALIGNMENT, kvU32(128)]], tensors.slice(0, 3));
        const file = readGGUF(path);
        expect(file.alignment).toBe(128);
        file.tensors.forEach((t) => expect((file.dataOffset + t.offset) % 128).toBe(0));
    });

    it("dequantizes a hand-made Q8_0 tensor", () => {
        // Block 0: scale 0.5 (f16 0x3800), quants -16..15. Block 1: scale 0x3555, extreme quants.
        const q0 = Array.from({ length: 32 }, (_, j) => j - 16);
        const q1 = Array.from({ length: 32 }, (_, j) => [127, -128, 0, 1, -1][j % 5]);
        const block = (scaleBits: number, q: number[]) => {
            const b = Buffer.alloc(34);
            b.writeUInt16LE(scaleBits, 0);
            q.forEach((x, j) => b.writeInt8(x, 2 + j));
            return b;
        };
        const data = Buffer.concat([block(0x3800, q0), block(0x3555, q1)]);
        const path = writeHandMade("q8", handMadeGGUF([{ name: "w", ne: [64], type: GGMLType.Q8_0 }], data));
        const file = readGGUF(path);
        expect(file.tensors[0]).toMatchObject({ type: GGMLType.Q8_0, nbytes: 68, offset: 0 });
        const expected = [...q0.map((q) => 0.5 * q), ...q1.map((q) => 0.333251953125 * q)];
        expect([...readTensorF32(file, "w")]).toEqual(expected);
    });

    it("reads BF16 tensors", () => {
        const data = Buffer.alloc(4);
        data.writeUInt16LE(0x3f80, 0); // 1.0
        data.writeUInt16LE(0xc0a0, 2); // -5.0
        const path = writeHandMade("bf16", handMadeGGUF([{ name: "b", ne: [2], type: GGMLType.BF16 }], data));
        expect([...readTensorF32(readGGUF(path), "b")]).toEqual([1, -5]);
    });

    it("refuses to dequantize other types, naming the tensor, type and file", () => {
        const path = writeHandMade("q4", handMadeGGUF([{ name: "q", ne: [32], type: GGMLType.Q4_0 }], Buffer.alloc(18)));
        const file = readGGUF(path);
        expect(ggmlTypeName(file.tensors[0].type)).toBe("q4_0");
        expect(() => readTensorF32(file, "q")).toThrow(/tensor "q" of type q4_0 .* in GGUF file .*q4-\d+\.gguf/);
        expect(() => readTensorF32(file, "missing")).toThrow(`no tensor "missing" in GGUF file ${path}`);
    });
});

describe("errors", () => {
    let validBytes: Buffer;
    let dataOffset = 0;
    beforeAll(() => {
        const valid = tmpFile("valid");
        writeGGUF(
            valid,
            [
                ["general.name", kvString("model")],
                ["a.list", kvStringArray(["x", "y"])],
            ],
            [{ name: "w", ne: [8], type: GGMLType.F32, data: randomValues(8, 9) }],
        );
        validBytes = readFileSync(valid);
        dataOffset = readGGUF(valid).dataOffset;
    });

    // Cut points as functions of the data section offset (the file is 24 header bytes, two
    // metadata entries ending at byte 109, one tensor entry ending at 142, padding, 32 data bytes).
    it.each<[string, (dataOffset: number) => number, string]>([
        ["in the magic", () => 2, "magic"],
        ["in the header", () => 10, "tensor count"],
        ["in a metadata key", () => 30, "metadata key #0"],
        ["in a string array", (d) => d - 60, `metadata "a.list"`],
        ["in the tensor directory", (d) => d - 20, `tensor "w"`],
        ["in the tensor data", (d) => d + 16, `data of tensor "w"`],
    ])("a file truncated %s fails naming the file and field", (_label, cutAt, field) => {
        const path = tmpFile("truncated");
        writeFileSync(path, validBytes);
        truncateSync(path, cutAt(dataOffset));
        expect(() => readGGUF(path)).toThrow(`truncated GGUF file: ${path} (${field}`);
    });

    it("a bad magic fails", () => {
        const path = writeHandMade("magic", Buffer.from("GGML\x03\x00\x00\x00 and more bytes"));
        expect(() => readGGUF(path)).toThrow(`not a GGUF file: ${path} (magic "GGML"`);
    });

    it.each([1, 4, 0x03000000])("version %i is unsupported", (version) => {
        const bytes = Buffer.from(validBytes);
        bytes.writeUInt32LE(version, 4);
        const path = writeHandMade("version", bytes);
        expect(() => readGGUF(path)).toThrow(`unsupported GGUF version ${version} in ${path}`);
    });

    it("an unknown value type fails naming the key", () => {
        const kv = new Bytes().str("odd.key").u32(99).u32(0).build();
        const path = writeHandMade("valtype", handMadeGGUF([], Buffer.alloc(0), 1, kv));
        expect(() => readGGUF(path)).toThrow(`unknown GGUF value type 99 for metadata "odd.key" in GGUF file ${path}`);
    });

    it("a tensor whose data runs past the end of the file fails", () => {
        const path = writeHandMade("short", handMadeGGUF([{ name: "big", ne: [1000], type: GGMLType.F32 }], Buffer.alloc(16)));
        expect(() => readGGUF(path)).toThrow(`truncated GGUF file: ${path} (data of tensor "big"`);
    });

    it("duplicate tensor names fail", () => {
        const twice = [0, 1].map(() => ({ name: "dup", ne: [4], type: GGMLType.F32 }));
        const path = writeHandMade("dup", handMadeGGUF(twice, Buffer.alloc(48)));
        expect(() => readGGUF(path)).toThrow(`duplicate tensor name "dup" in GGUF file ${path}`);
    });

    it("an unknown tensor type fails naming the tensor", () => {
        const path = writeHandMade("ttype", handMadeGGUF([{ name: "t", ne: [4], type: 4 }], Buffer.alloc(32)));
        expect(() => readGGUF(path)).toThrow(`tensor "t": unknown ggml type 4 in GGUF file ${path}`);
    });

    it.each<[string, [string, GGUFKV][], GGUFWriteTensor[], string]>([
        ["an out-of-range u8", [["k.u8", kvScalar(GGUFValueType.UINT8, 300)]], [], `metadata "k.u8"`],
        ["a string array holding a number", [["k.s", kvArray(GGUFValueType.STRING, ["a", 1])]], [], `metadata "k.s"`],
        ["a bad alignment", [[GGUF_KEY_ALIGNMENT, kvU32(48)]], [], GGUF_KEY_ALIGNMENT],
        ["a shape/data mismatch", [], [{ name: "x", ne: [3, 2], type: GGMLType.F32, data: new Float32Array(5) }], `tensor "x"`],
    ])("the writer rejects %s and leaves no file behind", (_label, metadata, tensors, named) => {
        const path = tmpFile("reject");
        expect(() => writeGGUF(path, metadata, tensors)).toThrow(named);
        expect(readdirSync(dir).filter((f) => f.startsWith("reject") || f.includes(".tmp-"))).toEqual([]);
    });
});
