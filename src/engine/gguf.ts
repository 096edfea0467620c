/**
 * Pure TypeScript reader and writer for GGUF files (format v3, as used by llama.cpp / ggml).
 *
 * Layout (all integers little-endian):
 *   magic "GGUF" | u32 version | i64 n_tensors | i64 n_kv
 *   n_kv × (string key | i32 value type | value)       where arrays are i32 elem type | u64 n | n × elem
 *   n_tensors × (string name | u32 n_dims | n_dims × i64 ne | i32 ggml type | u64 offset)
 *   zero padding to `alignment` | tensor data, each tensor padded to `alignment`
 * Strings are a u64 byte length followed by UTF-8 bytes (no terminator; invalid sequences decode
 * to U+FFFD); bools are one byte.
 *
 * The reader only touches the bytes it needs (header and metadata through a small buffered cursor,
 * tensor data on demand), so multi-gigabyte models are fine. Tensor data is assumed to be in host
 * byte order, which is checked once to be little-endian (true of every platform Node runs on).
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { writeError, writing } from "../util/files.ts";

if (endianness() !== "LE") {
    throw new Error("gguf.ts requires a little-endian host");
}

/** Bytes "GGUF" read as a little-endian u32. */
const GGUF_MAGIC = 0x46554747;
/** The version this module writes. */
export const GGUF_VERSION = 3;
/** Alignment used when the file has no `general.alignment` key. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** The metadata key that overrides the data alignment (u32, a power of two). */
export const GGUF_KEY_ALIGNMENT = "general.alignment";

/** Oldest version read: v2 has the same layout as v3 (v1 used 32-bit lengths and is unsupported). */
const GGUF_MIN_VERSION = 2;
/** ggml tensors have at most four dimensions. */
const GGML_MAX_DIMS = 4;
/** Bytes the header cursor reads from disk at a time. */
const READ_CHUNK_BYTES = 1 << 20;
/** Elements converted and written per step when streaming tensor data. */
const WRITE_CHUNK_ELEMENTS = 1 << 18;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Tensor element types, with the ids of `enum ggml_type` in ggml.h (removed ids are absent). */
export enum GGMLType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/** ggml's name for a type, the elements per block and the bytes per block (ggml.c type_traits). */
interface GGMLTypeTraits {
    name: string;
    blockSize: number;
    typeSize: number;
}

const QK_K = 256;

const GGML_TYPE_TRAITS: ReadonlyMap<GGMLType, GGMLTypeTraits> = new Map(
    (
        [
            [GGMLType.F32, "f32", 1, 4],
            [GGMLType.F16, "f16", 1, 2],
            [GGMLType.Q4_0, "q4_0", 32, 18],
            [GGMLType.Q4_1, "q4_1", 32, 20],
            [GGMLType.Q5_0, "q5_0", 32, 22],
            [GGMLType.Q5_1, "q5_1", 32, 24],
            [GGMLType.Q8_0, "q8_0", 32, 34],
            [GGMLType.Q8_1, "q8_1", 32, 36],
            [GGMLType.Q2_K, "q2_K", QK_K, 84],
            [GGMLType.Q3_K, "q3_K", QK_K, 110],
            [GGMLType.Q4_K, "q4_K", QK_K, 144],
            [GGMLType.Q5_K, "q5_K", QK_K, 176],
            [GGMLType.Q6_K, "q6_K", QK_K, 210],
            [GGMLType.Q8_K, "q8_K", QK_K, 292],
            [GGMLType.IQ2_XXS, "iq2_xxs", QK_K, 66],
            [GGMLType.IQ2_XS, "iq2_xs", QK_K, 74],
            [GGMLType.IQ3_XXS, "iq3_xxs", QK_K, 98],
            [GGMLType.IQ1_S, "iq1_s", QK_K, 50],
            [GGMLType.IQ4_NL, "iq4_nl", 32, 18],
            [GGMLType.IQ3_S, "iq3_s", QK_K, 110],
            [GGMLType.IQ2_S, "iq2_s", QK_K, 82],
            [GGMLType.IQ4_XS, "iq4_xs", QK_K, 136],
            [GGMLType.I8, "i8", 1, 1],
            [GGMLType.I16, "i16", 1, 2],
            [GGMLType.I32, "i32", 1, 4],
            [GGMLType.I64, "i64", 1, 8],
            [GGMLType.F64, "f64", 1, 8],
            [GGMLType.IQ1_M, "iq1_m", QK_K, 56],
            [GGMLType.BF16, "bf16", 1, 2],
            [GGMLType.TQ1_0, "tq1_0", QK_K, 54],
            [GGMLType.TQ2_0, "tq2_0", QK_K, 66],
            [GGMLType.MXFP4, "mxfp4", 32, 17],
            [GGMLType.NVFP4, "nvfp4", 64, 36],
            [GGMLType.Q1_0, "q1_0", 128, 18],
            [GGMLType.Q2_0, "q2_0", 64, 18],
        ] as const
    ).map(([type, name, blockSize, typeSize]) => [type, { name, blockSize, typeSize }]),
);

/** ggml's name for a tensor type ("f32", "q8_0", "q4_K", ...), or "unknown(<id>)". */
export function ggmlTypeName(type: number): string {
    return GGML_TYPE_TRAITS.get(type)?.name ?? `unknown(${type})`;
}

function alignUp(n: number, alignment: number): number {
    return Math.ceil(n / alignment) * alignment;
}

function elementCount(ne: readonly number[]): number {
    return ne.reduce((a, b) => a * b, 1);
}

/**
 * Bytes a contiguous tensor of `type` and shape `ne` (ggml order) occupies.
 * Throws if the type is unknown or `ne[0]` is not a multiple of the type's block size.
 */
export function ggmlNBytes(type: GGMLType, ne: readonly number[]): number {
    const traits = GGML_TYPE_TRAITS.get(type);
    if (!traits) {
        throw new Error(`unknown ggml type ${type}`);
    }
    const rowLength = ne[0] ?? 1;
    if (rowLength % traits.blockSize !== 0) {
        throw new Error(`row length ${rowLength} is not a multiple of the ${traits.name} block size ${traits.blockSize}`);
    }
    return (elementCount(ne) / traits.blockSize) * traits.typeSize;
}

/** Value types of GGUF metadata (`enum gguf_type` in gguf.h). */
export enum GGUFValueType {
    UINT8 = 0,
    INT8,
    UINT16,
    INT16,
    UINT32,
    INT32,
    FLOAT32,
    BOOL,
    STRING,
    ARRAY,
    UINT64,
    INT64,
    FLOAT64,
}

/** A metadata value: 64-bit integers are bigints, other numbers are numbers. */
export type GGUFScalar = number | bigint | boolean | string;

/** A metadata entry. For arrays `type` is ARRAY and `arrayType` the element type. */
export interface GGUFKV {
    type: GGUFValueType;
    value: GGUFScalar | GGUFScalar[];
    arrayType?: GGUFValueType;
}

/** Where a tensor lies in a GGUF file. */
export interface GGUFTensorInfo {
    name: string;
    /** Shape in ggml order: ne[0] is the fastest-varying dimension. */
    ne: number[];
    type: GGMLType;
    /** Byte offset relative to the start of the data section. */
    offset: number;
    nbytes: number;
}

/** The header, metadata and tensor directory of a GGUF file (no tensor data). */
export interface GGUFFile {
    path: string;
    version: number;
    metadata: Map<string, GGUFKV>;
    tensors: GGUFTensorInfo[];
    alignment: number;
    /** Absolute file offset of the data section. */
    dataOffset: number;
}

/** A tensor to write: `data` holds f32 values, converted to f16 or quantized to q8_0 by `type`. */
export interface GGUFWriteTensor {
    name: string;
    ne: number[];
    type: GGMLType.F32 | GGMLType.F16 | GGMLType.Q8_0;
    data: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Fixed-size metadata values
// ---------------------------------------------------------------------------------------------

type FixedValueType = Exclude<GGUFValueType, GGUFValueType.STRING | GGUFValueType.ARRAY>;

/** How one fixed-size value type is encoded, decoded and validated. */
interface ScalarCodec {
    size: number;
    get(view: DataView, at: number): GGUFScalar;
    set(view: DataView, at: number, value: GGUFScalar): void;
    accepts(value: GGUFScalar): boolean;
}

const isIntIn =
    (lo: number, hi: number) =>
    (x: GGUFScalar): boolean =>
        typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;

const isBigIntIn =
    (lo: bigint, hi: bigint) =>
    (x: GGUFScalar): boolean =>
        (typeof x === "bigint" || (typeof x === "number" && Number.isSafeInteger(x))) && BigInt(x) >= lo && BigInt(x) <= hi;

const isNumber = (x: GGUFScalar): boolean => typeof x === "number";

const CODECS: Record<FixedValueType, ScalarCodec> = {
    [GGUFValueType.UINT8]: {
        size: 1,
        get: (v, at) => v.getUint8(at),
        set: (v, at, x) => v.setUint8(at, Number(x)),
        accepts: isIntIn(0, 0xff),
    },
    [GGUFValueType.INT8]: {
        size: 1,
        get: (v, at) => v.getInt8(at),
        set: (v, at, x) => v.setInt8(at, Number(x)),
        accepts: isIntIn(-0x80, 0x7f),
    },
    [GGUFValueType.UINT16]: {
        size: 2,
        get: (v, at) => v.getUint16(at, true),
        set: (v, at, x) => v.setUint16(at, Number(x), true),
        accepts: isIntIn(0, 0xffff),
    },
    [GGUFValueType.INT16]: {
        size: 2,
        get: (v, at) => v.getInt16(at, true),
        set: (v, at, x) => v.setInt16(at, Number(x), true),
        accepts: isIntIn(-0x8000, 0x7fff),
    },
    [GGUFValueType.UINT32]: {
        size: 4,
        get: (v, at) => v.getUint32(at, true),
        set: (v, at, x) => v.setUint32(at, Number(x), true),
        accepts: isIntIn(0, 0xffffffff),
    },
    [GGUFValueType.INT32]: {
        size: 4,
        get: (v, at) => v.getInt32(at, true),
        set: (v, at, x) => v.setInt32(at, Number(x), true),
        accepts: isIntIn(-0x80000000, 0x7fffffff),
    },
    [GGUFValueType.FLOAT32]: {
        size: 4,
        get: (v, at) => v.getFloat32(at, true),
        set: (v, at, x) => v.setFloat32(at, Number(x), true),
        accepts: isNumber,
    },
    [GGUFValueType.BOOL]: {
        size: 1,
        get: (v, at) => v.getInt8(at) !== 0,
        set: (v, at, x) => v.setInt8(at, x ? 1 : 0),
        accepts: (x) => typeof x === "boolean",
    },
    [GGUFValueType.UINT64]: {
        size: 8,
        get: (v, at) => v.getBigUint64(at, true),
        set: (v, at, x) => v.setBigUint64(at, BigInt(x), true),
        accepts: isBigIntIn(0n, 0xffffffffffffffffn),
    },
    [GGUFValueType.INT64]: {
        size: 8,
        get: (v, at) => v.getBigInt64(at, true),
        set: (v, at, x) => v.setBigInt64(at, BigInt(x), true),
        accepts: isBigIntIn(-0x8000000000000000n, 0x7fffffffffffffffn),
    },
    [GGUFValueType.FLOAT64]: {
        size: 8,
        get: (v, at) => v.getFloat64(at, true),
        set: (v, at, x) => v.setFloat64(at, Number(x), true),
        accepts: isNumber,
    },
};

function isValueType(t: number): t is GGUFValueType {
    return Number.isInteger(t) && t >= GGUFValueType.UINT8 && t <= GGUFValueType.FLOAT64;
}

/** Smallest number of bytes one element of `type` takes (a string is at least its u64 length). */
function minValueSize(type: GGUFValueType): number {
    return type === GGUFValueType.STRING ? 8 : CODECS[type as FixedValueType].size;
}

// ---------------------------------------------------------------------------------------------
// Metadata helpers
// ---------------------------------------------------------------------------------------------

/** A scalar metadata entry of the given type. */
export function kvScalar(type: Exclude<GGUFValueType, GGUFValueType.ARRAY>, value: GGUFScalar): GGUFKV {
    return { type, value };
}

/** An array metadata entry whose elements are of `arrayType`. */
export function kvArray(arrayType: Exclude<GGUFValueType, GGUFValueType.ARRAY>, values: Iterable<GGUFScalar>): GGUFKV {
    return { type: GGUFValueType.ARRAY, arrayType, value: [...values] };
}

/** A string metadata entry. */
export const kvString = (s: string): GGUFKV => kvScalar(GGUFValueType.STRING, s);
/** A u32 metadata entry. */
export const kvU32 = (n: number): GGUFKV => kvScalar(GGUFValueType.UINT32, n);
/** An i32 metadata entry. */
export const kvI32 = (n: number): GGUFKV => kvScalar(GGUFValueType.INT32, n);
/** A u64 metadata entry (stored as a bigint). */
export const kvU64 = (n: number | bigint): GGUFKV => kvScalar(GGUFValueType.UINT64, BigInt(n));
/** An f32 metadata entry. */
export const kvF32 = (x: number): GGUFKV => kvScalar(GGUFValueType.FLOAT32, x);
/** A bool metadata entry. */
export const kvBool = (b: boolean): GGUFKV => kvScalar(GGUFValueType.BOOL, b);
/** An array-of-strings metadata entry. */
export const kvStringArray = (a: Iterable<string>): GGUFKV => kvArray(GGUFValueType.STRING, a);
/** An array-of-f32 metadata entry. */
export const kvF32Array = (a: Iterable<number>): GGUFKV => kvArray(GGUFValueType.FLOAT32, a);
/** An array-of-i32 metadata entry. */
export const kvI32Array = (a: Iterable<number>): GGUFKV => kvArray(GGUFValueType.INT32, a);

/** A metadata value, or undefined when the key is absent. The caller asserts the value's type. */
export function getMeta<T extends GGUFScalar | GGUFScalar[]>(file: GGUFFile, key: string): T | undefined {
    return file.metadata.get(key)?.value as T | undefined;
}

/** Like {@link getMeta}, but throws an error naming the key and the file when it is absent. */
export function getMetaRequired<T extends GGUFScalar | GGUFScalar[]>(file: GGUFFile, key: string): T {
    const value = getMeta<T>(file, key);
    if (value === undefined) {
        throw new Error(`missing metadata key "${key}" in GGUF file ${file.path}`);
    }
    return value;
}

/**
 * A deep-enough copy of a file's metadata, in file order, for writing a derived file.
 * `keep` filters keys (all are kept by default).
 */
export function copyMetadata(file: GGUFFile, keep: (key: string) => boolean = () => true): [string, GGUFKV][] {
    return [...file.metadata].filter(([key]) => keep(key)).map(([key, kv]) => [key, { ...kv, value: Array.isArray(kv.value) ? [...kv.value] : kv.value }]);
}

// ---------------------------------------------------------------------------------------------
// f16 / bf16 conversion
// ---------------------------------------------------------------------------------------------

/** IEEE binary16 bits to binary32 bits (exact, NaN payloads included). */
function halfBitsToFloatBits(h: number): number {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) {
        return sign | 0x7f800000 | (mant << 13);
    }
    if (exp !== 0) {
        return sign | ((exp + 112) << 23) | (mant << 13);
    }
    if (mant === 0) {
        return sign;
    }
    // Subnormal: shift the leading one up to the implicit bit, lowering the exponent accordingly.
    let floatExp = 113;
    while ((mant & 0x400) === 0) {
        mant <<= 1;
        floatExp--;
    }
    return sign | (floatExp << 23) | ((mant & 0x3ff) << 13);
}

/** Rounds `value >>> shift` to nearest, ties to even (0 < shift < 32). */
function shiftRoundEven(value: number, shift: number): number {
    const kept = value >>> shift;
    const rest = value & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** IEEE binary32 bits to binary16 bits, rounding to nearest even; NaN becomes the quiet NaN 0x7e00. */
function floatBitsToHalfBits(f: number): number {
    const sign = (f >>> 16) & 0x8000;
    const exp = (f >>> 23) & 0xff;
    const mant = f & 0x7fffff;
    if (exp === 0xff) {
        return sign | (mant === 0 ? 0x7c00 : 0x7e00);
    }
    const halfExp = exp - 112;
    if (halfExp >= 0x1f) {
        return sign | 0x7c00;
    }
    if (halfExp > 0) {
        // A carry out of the mantissa correctly bumps the exponent (up to infinity).
        return sign | shiftRoundEven((halfExp << 23) | mant, 13);
    }
    if (halfExp < -10) {
        return sign; // below half the smallest subnormal: rounds to zero
    }
    // Subnormal result, in units of 2^-24: (mant | implicit one) / 2^(14 - halfExp).
    return sign | shiftRoundEven(mant | 0x800000, 14 - halfExp);
}

/** All 65536 f16 values as f32, viewed as bits and as values; built on first use. */
let f16Table: { bits: Uint32Array; values: Float32Array } | undefined;

function f16ToF32Table(): { bits: Uint32Array; values: Float32Array } {
    if (!f16Table) {
        const bits = Uint32Array.from({ length: 0x10000 }, (_, h) => halfBitsToFloatBits(h));
        f16Table = { bits, values: new Float32Array(bits.buffer) };
    }
    return f16Table;
}

/** Converts f32 values to f16 bit patterns, rounding to nearest even (overflow becomes ±inf). */
export function f32ToF16(src: Float32Array): Uint16Array {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    const out = new Uint16Array(src.length);
    for (let i = 0; i < bits.length; i++) {
        out[i] = floatBitsToHalfBits(bits[i]);
    }
    return out;
}

/** Converts f16 bit patterns to f32 values (exact). */
export function f16ToF32(src: Uint16Array): Float32Array {
    const table = f16ToF32Table().bits;
    const out = new Float32Array(src.length);
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) {
        outBits[i] = table[src[i]];
    }
    return out;
}

/** Converts bf16 bit patterns to f32 values (exact). */
export function bf16ToF32(src: Uint16Array): Float32Array {
    const out = new Float32Array(src.length);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) {
        bits[i] = src[i] << 16;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

function truncatedError(path: string, what: string, offset: number, needed: number, fileSize: number): Error {
    return new Error(`truncated GGUF file: ${path} (${what} needs bytes ${offset}..${offset + needed} ` + `but the file has ${fileSize} bytes)`);
}

/** Fills `buf` from `position` of `fd`, or throws a truncation error naming `what`. */
function readExactly(fd: number, buf: Uint8Array, position: number, path: string, what: string): void {
    let done = 0;
    while (done < buf.length) {
        const n = readSync(fd, buf, done, buf.length - done, position + done);
        if (n === 0) {
            throw truncatedError(path, what, position, buf.length, position + done);
        }
        done += n;
    }
}

/** A forward-reading cursor over a file that keeps one chunk of it in memory. */
class FileCursor {
    pos = 0;
    private buf = Buffer.alloc(0);
    private view = new DataView(this.buf.buffer);
    private bufStart = 0;

    constructor(
        private readonly fd: number,
        readonly size: number,
        readonly path: string,
    ) {}

    /** Consumes `n` bytes and returns where they start in `this.buf`, reading from disk if needed. */
    private take(n: number, what: string): number {
        if (this.pos + n > this.size) {
            throw truncatedError(this.path, what, this.pos, n, this.size);
        }
        if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
            this.buf = Buffer.allocUnsafeSlow(Math.min(Math.max(n, READ_CHUNK_BYTES), this.size - this.pos));
            this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
            this.bufStart = this.pos;
            readExactly(this.fd, this.buf, this.pos, this.path, what);
        }
        const at = this.pos - this.bufStart;
        this.pos += n;
        return at;
    }

    fixed(type: FixedValueType, what: string): GGUFScalar {
        const codec = CODECS[type];
        const at = this.take(codec.size, what); // may swap in a new buffer and view
        return codec.get(this.view, at);
    }

    u32(what: string): number {
        return this.fixed(GGUFValueType.UINT32, what) as number;
    }

    i32(what: string): number {
        return this.fixed(GGUFValueType.INT32, what) as number;
    }

    /** A u64/i64 count or offset that must fit a JS number exactly. */
    safeInt(type: GGUFValueType.UINT64 | GGUFValueType.INT64, what: string): number {
        const value = this.fixed(type, what) as bigint;
        if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
            throw new Error(`invalid ${what} ${value} in GGUF file ${this.path}`);
        }
        return Number(value);
    }

    string(what: string): string {
        const length = this.safeInt(GGUFValueType.UINT64, what);
        const at = this.take(length, what);
        return this.buf.toString("utf8", at, at + length);
    }

    value(type: GGUFValueType, what: string): GGUFScalar {
        return type === GGUFValueType.STRING ? this.string(what) : this.fixed(type as FixedValueType, what);
    }

    /** Throws a truncation error unless `n` more bytes remain. */
    requireRemaining(n: number, what: string): void {
        if (this.pos + n > this.size) {
            throw truncatedError(this.path, what, this.pos, n, this.size);
        }
    }
}

function readValueType(cur: FileCursor, what: string): GGUFValueType {
    const type = cur.i32(`${what} type`);
    if (!isValueType(type)) {
        throw new Error(`unknown GGUF value type ${type} for ${what} in GGUF file ${cur.path}`);
    }
    return type;
}

function readKV(cur: FileCursor, key: string): GGUFKV {
    const what = `metadata "${key}"`;
    const type = readValueType(cur, what);
    if (type !== GGUFValueType.ARRAY) {
        return { type, value: cur.value(type, `${what} value`) };
    }
    const arrayType = readValueType(cur, `${what} array element`);
    if (arrayType === GGUFValueType.ARRAY) {
        throw new Error(`unsupported nested array for ${what} in GGUF file ${cur.path}`);
    }
    const count = cur.safeInt(GGUFValueType.UINT64, `${what} array length`);
    cur.requireRemaining(count * minValueSize(arrayType), `${what} array of ${count} elements`);
    const value: GGUFScalar[] = [];
    const elementWhat = `${what} array element`;
    for (let i = 0; i < count; i++) {
        value.push(cur.value(arrayType, elementWhat));
    }
    return { type, arrayType, value };
}

function checkVersion(version: number, path: string): void {
    if (version >= GGUF_MIN_VERSION && version <= GGUF_VERSION) {
        return;
    }
    const hint = version !== 0 && (version & 0xffff) === 0 ? "; is the file big-endian?" : "";
    throw new Error(`unsupported GGUF version ${version} in ${path} ` + `(versions ${GGUF_MIN_VERSION} to ${GGUF_VERSION} are supported${hint})`);
}

function readHeader(cur: FileCursor): { version: number; tensorCount: number; kvCount: number } {
    const magic = cur.u32("magic");
    if (magic !== GGUF_MAGIC) {
        const text = JSON.stringify(Buffer.from(new Uint32Array([magic]).buffer).toString("latin1"));
        throw new Error(`not a GGUF file: ${cur.path} (magic ${text} = 0x${magic.toString(16)}, expected "GGUF")`);
    }
    const version = cur.u32("version");
    checkVersion(version, cur.path);
    const tensorCount = cur.safeInt(GGUFValueType.INT64, "tensor count");
    const kvCount = cur.safeInt(GGUFValueType.INT64, "metadata count");
    return { version, tensorCount, kvCount };
}

function readMetadata(cur: FileCursor, count: number): Map<string, GGUFKV> {
    const metadata = new Map<string, GGUFKV>();
    for (let i = 0; i < count; i++) {
        const key = cur.string(`metadata key #${i}`);
        if (metadata.has(key)) {
            throw new Error(`duplicate metadata key "${key}" in GGUF file ${cur.path}`);
        }
        metadata.set(key, readKV(cur, key));
    }
    return metadata;
}

/** The data alignment declared by `general.alignment`, validated, or the default. */
function alignmentOf(kv: GGUFKV | undefined, where: string): number {
    if (!kv) {
        return GGUF_DEFAULT_ALIGNMENT;
    }
    const value = kv.value;
    if (kv.type !== GGUFValueType.UINT32 || typeof value !== "number" || value <= 0 || (value & (value - 1)) !== 0) {
        throw new Error(`"${GGUF_KEY_ALIGNMENT}" must be a u32 power of two in ${where}, got ${String(value)}`);
    }
    return value;
}

function readTensorInfo(cur: FileCursor, index: number, alignment: number): GGUFTensorInfo {
    const name = cur.string(`tensor #${index} name`);
    const what = `tensor "${name}"`;
    const nDims = cur.u32(`${what} dimension count`);
    if (nDims > GGML_MAX_DIMS) {
        throw new Error(`${what} has ${nDims} dimensions (at most ${GGML_MAX_DIMS}) in GGUF file ${cur.path}`);
    }
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
        ne.push(cur.safeInt(GGUFValueType.INT64, `${what} ne[${d}]`));
    }
    const type: GGMLType = cur.i32(`${what} type`);
    const offset = cur.safeInt(GGUFValueType.UINT64, `${what} offset`);
    let nbytes: number;
    try {
        nbytes = ggmlNBytes(type, ne);
    } catch (e) {
        throw new Error(`${what}: ${(e as Error).message} in GGUF file ${cur.path}`);
    }
    if (offset % alignment !== 0) {
        throw new Error(`${what} offset ${offset} is not a multiple of the alignment ${alignment} in GGUF file ${cur.path}`);
    }
    return { name, ne, type, offset, nbytes };
}

function readTensorInfos(cur: FileCursor, count: number, alignment: number): GGUFTensorInfo[] {
    const tensors: GGUFTensorInfo[] = [];
    const names = new Set<string>();
    for (let i = 0; i < count; i++) {
        const info = readTensorInfo(cur, i, alignment);
        if (names.has(info.name)) {
            throw new Error(`duplicate tensor name "${info.name}" in GGUF file ${cur.path}`);
        }
        names.add(info.name);
        tensors.push(info);
    }
    return tensors;
}

function checkTensorBounds(file: GGUFFile, fileSize: number): void {
    for (const t of file.tensors) {
        const start = file.dataOffset + t.offset;
        if (start + t.nbytes > fileSize) {
            throw truncatedError(file.path, `data of tensor "${t.name}"`, start, t.nbytes, fileSize);
        }
    }
}

/**
 * Reads the header, metadata and tensor directory of a GGUF file (not the tensor data).
 * Throws an error naming the file and the field for a bad magic, an unsupported version, a
 * truncated file, an unknown value or tensor type, or tensor data running past the end of the file.
 */
export function readGGUF(path: string): GGUFFile {
    const fd = openSync(path, "r");
    try {
        const size = fstatSync(fd).size;
        const cur = new FileCursor(fd, size, path);
        const { version, tensorCount, kvCount } = readHeader(cur);
        const metadata = readMetadata(cur, kvCount);
        const alignment = alignmentOf(metadata.get(GGUF_KEY_ALIGNMENT), `GGUF file ${path}`);
        const tensors = readTensorInfos(cur, tensorCount, alignment);
        const dataOffset = tensorCount > 0 ? alignUp(cur.pos, alignment) : cur.pos;
        const file: GGUFFile = { path, version, metadata, tensors, alignment, dataOffset };
        checkTensorBounds(file, size);
        return file;
    } finally {
        closeSync(fd);
    }
}

/** The directory entry of a tensor, or an error naming the tensor and the file. */
export function findTensor(file: GGUFFile, name: string): GGUFTensorInfo {
    const info = file.tensors.find((t) => t.name === name);
    if (!info) {
        throw new Error(`no tensor "${name}" in GGUF file ${file.path}`);
    }
    return info;
}

/** The raw bytes of a tensor as stored in the file (a fresh buffer whose byteOffset is 0). */
export function readTensorBytes(file: GGUFFile, name: string): Buffer {
    const info = findTensor(file, name);
    const buf = Buffer.allocUnsafeSlow(info.nbytes);
    const fd = openSync(file.path, "r");
    try {
        readExactly(fd, buf, file.dataOffset + info.offset, file.path, `data of tensor "${name}"`);
    } finally {
        closeSync(fd);
    }
    return buf;
}

/** Q8_0: blocks of an f16 scale followed by 32 int8 quants; x = scale * q. */
function dequantizeQ8_0(bytes: Buffer): Float32Array {
    const { blockSize, typeSize } = GGML_TYPE_TRAITS.get(GGMLType.Q8_0)!;
    const scales = f16ToF32Table().values;
    const quants = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    const blocks = bytes.length / typeSize;
    const out = new Float32Array(blocks * blockSize);
    for (let b = 0; b < blocks; b++) {
        const at = b * typeSize;
        const scale = scales[bytes.readUInt16LE(at)];
        for (let j = 0; j < blockSize; j++) {
            out[b * blockSize + j] = scale * quants[at + 2 + j];
        }
    }
    return out;
}

/** Tensor types readTensorF32 understands, each with its decoder from raw (offset-0) bytes. */
const F32_DECODERS: ReadonlyMap<GGMLType, (bytes: Buffer) => Float32Array> = new Map([
    [GGMLType.F32, (b: Buffer) => new Float32Array(b.buffer, b.byteOffset, b.length / 4)],
    [GGMLType.F16, (b: Buffer) => f16ToF32(new Uint16Array(b.buffer, b.byteOffset, b.length / 2))],
    [GGMLType.BF16, (b: Buffer) => bf16ToF32(new Uint16Array(b.buffer, b.byteOffset, b.length / 2))],
    [GGMLType.Q8_0, dequantizeQ8_0],
]);

/**
 * Reads a tensor and returns its values as f32 (F32, F16, BF16 and Q8_0 tensors);
 * any other type throws an error naming the tensor, the type and the file.
 */
export function readTensorF32(file: GGUFFile, name: string): Float32Array {
    const info = findTensor(file, name);
    const decode = F32_DECODERS.get(info.type);
    if (!decode) {
        const supported = [...F32_DECODERS.keys()].map(ggmlTypeName).join(", ");
        throw new Error(`cannot read tensor "${name}" of type ${ggmlTypeName(info.type)} as f32 ` + `(supported: ${supported}) in GGUF file ${file.path}`);
    }
    return decode(readTensorBytes(file, name));
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** A growable little-endian byte buffer for the header and metadata. */
class ByteSink {
    length = 0;
    private buf = Buffer.alloc(1 << 16);
    private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);

    /** Makes room for `n` more bytes and returns where they start. */
    private reserve(n: number): number {
        if (this.length + n > this.buf.length) {
            const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
            this.buf.copy(bigger, 0, 0, this.length);
            this.buf = bigger;
            this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
        }
        const at = this.length;
        this.length += n;
        return at;
    }

    fixed(type: FixedValueType, value: GGUFScalar): void {
        const codec = CODECS[type];
        const at = this.reserve(codec.size); // may swap in a bigger buffer and view
        codec.set(this.view, at, value);
    }

    string(s: string): void {
        const bytes = Buffer.from(s, "utf8");
        this.fixed(GGUFValueType.UINT64, bytes.length);
        const at = this.reserve(bytes.length);
        bytes.copy(this.buf, at);
    }

    value(type: GGUFValueType, value: GGUFScalar): void {
        if (type === GGUFValueType.STRING) {
            this.string(value as string);
        } else {
            this.fixed(type as FixedValueType, value);
        }
    }

    padTo(alignment: number): void {
        this.reserve(alignUp(this.length, alignment) - this.length); // Buffer.alloc zero-fills
    }

    bytes(): Buffer {
        return this.buf.subarray(0, this.length);
    }
}

function acceptsValue(type: GGUFValueType, value: GGUFScalar): boolean {
    return type === GGUFValueType.STRING ? typeof value === "string" : isValueType(type) && type !== GGUFValueType.ARRAY && CODECS[type].accepts(value);
}

/** Throws an error naming the key unless `kv` is a well-formed entry. */
function validateKV(key: string, kv: GGUFKV): void {
    const bad = (why: string) => new Error(`cannot write metadata "${key}": ${why}`);
    if (kv.type !== GGUFValueType.ARRAY) {
        if (Array.isArray(kv.value) || !acceptsValue(kv.type, kv.value)) {
            throw bad(`${String(kv.value)} is not a valid ${GGUFValueType[kv.type] ?? kv.type}`);
        }
        return;
    }
    const elemType = kv.arrayType;
    if (elemType === undefined || elemType === GGUFValueType.ARRAY || !isValueType(elemType)) {
        throw bad(`array element type ${String(elemType)} is not a scalar GGUF value type`);
    }
    if (!Array.isArray(kv.value)) {
        throw bad("an ARRAY entry needs an array value");
    }
    const i = kv.value.findIndex((x) => !acceptsValue(elemType, x));
    if (i >= 0) {
        throw bad(`element ${i} (${String(kv.value[i])}) is not a valid ${GGUFValueType[elemType]}`);
    }
}

function writeKV(sink: ByteSink, key: string, kv: GGUFKV): void {
    sink.string(key);
    sink.fixed(GGUFValueType.INT32, kv.type);
    if (kv.type !== GGUFValueType.ARRAY) {
        sink.value(kv.type, kv.value as GGUFScalar);
        return;
    }
    const values = kv.value as GGUFScalar[];
    const elemType = kv.arrayType!;
    sink.fixed(GGUFValueType.INT32, elemType);
    sink.fixed(GGUFValueType.UINT64, values.length);
    for (const v of values) {
        sink.value(elemType, v);
    }
}

/** The metadata to write, in order, with `general.alignment` set to `alignment` where needed. */
function metadataToWrite(
    metadata: Map<string, GGUFKV> | [string, GGUFKV][],
    requested: number | undefined,
    path: string,
): { entries: [string, GGUFKV][]; alignment: number } {
    const entries = [...metadata];
    const keys = new Set<string>();
    for (const [key, kv] of entries) {
        if (keys.has(key)) {
            throw new Error(`cannot write GGUF file ${path}: duplicate metadata key "${key}"`);
        }
        keys.add(key);
        validateKV(key, kv);
    }
    const index = entries.findIndex(([key]) => key === GGUF_KEY_ALIGNMENT);
    const declared = index >= 0 ? entries[index][1] : undefined;
    const alignment = requested === undefined ? alignmentOf(declared, `metadata for ${path}`) : alignmentOf(kvU32(requested), `options for ${path}`);
    if (index >= 0) {
        entries[index] = [GGUF_KEY_ALIGNMENT, kvU32(alignment)];
    } else if (alignment !== GGUF_DEFAULT_ALIGNMENT) {
        entries.push([GGUF_KEY_ALIGNMENT, kvU32(alignment)]);
    }
    return { entries, alignment };
}

/** Throws an error naming the tensor unless its name, shape, type and data agree. */
function validateTensor(t: GGUFWriteTensor, names: Set<string>, path: string): void {
    const bad = (why: string) => new Error(`cannot write tensor "${t.name}" to GGUF file ${path}: ${why}`);
    if (names.has(t.name)) {
        throw bad("duplicate tensor name");
    }
    names.add(t.name);
    if (t.ne.length < 1 || t.ne.length > GGML_MAX_DIMS || !t.ne.every((n) => Number.isSafeInteger(n) && n > 0)) {
        throw bad(`shape [${t.ne.join(", ")}] must have 1 to ${GGML_MAX_DIMS} positive integer dimensions`);
    }
    if (t.type !== GGMLType.F32 && t.type !== GGMLType.F16 && t.type !== GGMLType.Q8_0) {
        throw bad(`type ${ggmlTypeName(t.type)} is not writable (f32, f16 or q8_0 only)`);
    }
    if (t.type === GGMLType.Q8_0 && t.ne[0] % Q8_0_BLOCK !== 0) {
        throw bad(`q8_0 needs the first dimension to be a multiple of ${Q8_0_BLOCK}, got ${t.ne[0]}`);
    }
    if (t.data.length !== elementCount(t.ne)) {
        throw bad(`data has ${t.data.length} values but shape [${t.ne.join(", ")}] needs ${elementCount(t.ne)}`);
    }
}

/** Header, metadata, tensor directory and padding, as bytes. */
function encodeHead(entries: [string, GGUFKV][], tensors: GGUFWriteTensor[], alignment: number): Buffer {
    const sink = new ByteSink();
    sink.fixed(GGUFValueType.UINT32, GGUF_MAGIC);
    sink.fixed(GGUFValueType.UINT32, GGUF_VERSION);
    sink.fixed(GGUFValueType.INT64, tensors.length);
    sink.fixed(GGUFValueType.INT64, entries.length);
    for (const [key, kv] of entries) {
        writeKV(sink, key, kv);
    }
    let offset = 0;
    for (const t of tensors) {
        sink.string(t.name);
        sink.fixed(GGUFValueType.UINT32, t.ne.length);
        for (const n of t.ne) {
            sink.fixed(GGUFValueType.INT64, n);
        }
        sink.fixed(GGUFValueType.INT32, t.type);
        sink.fixed(GGUFValueType.UINT64, offset);
        offset += alignUp(ggmlNBytes(t.type, t.ne), alignment);
    }
    sink.padTo(alignment);
    return sink.bytes();
}

function writeAll(fd: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
        done += writeSync(fd, bytes, done, bytes.length - done);
    }
}

/** Streams one tensor's data in bounded chunks, then zero padding up to `alignment`. */
const Q8_0_BLOCK = 32;

/**
 * f32 -> q8_0 blocks (f16 scale + 32 int8), as ggml's reference quantize_row_q8_0: d = max|x| / 127,
 * q = round(x / d). `src.length` must be a multiple of 32.
 */
export function quantizeQ8_0(src: Float32Array): Uint8Array {
    const nb = src.length / Q8_0_BLOCK;
    const out = new Uint8Array(nb * (2 + Q8_0_BLOCK));
    const view = new DataView(out.buffer);
    for (let b = 0; b < nb; b++) {
        let amax = 0;
        for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(src[b * Q8_0_BLOCK + i]));
        const d = Math.fround(amax / 127);
        const id = d ? Math.fround(1 / d) : 0;
        const o = b * (2 + Q8_0_BLOCK);
        view.setUint16(o, f32ToF16(Float32Array.of(d))[0], true);
        for (let i = 0; i < Q8_0_BLOCK; i++) view.setInt8(o + 2 + i, roundHalfAway(Math.fround(src[b * Q8_0_BLOCK + i] * id)));
    }
    return out;
}

/** C's roundf: halves go away from zero (Math.round sends -2.5 to -2). */
function roundHalfAway(x: number): number {
    return Math.sign(x) * Math.round(Math.abs(x));
}

function writeTensorData(fd: number, t: GGUFWriteTensor, alignment: number): void {
    for (let i = 0; i < t.data.length; i += WRITE_CHUNK_ELEMENTS) {
        const chunk = t.data.subarray(i, i + WRITE_CHUNK_ELEMENTS);
        const encoded = t.type === GGMLType.F16 ? f32ToF16(chunk) : t.type === GGMLType.Q8_0 ? quantizeQ8_0(chunk) : chunk;
        writeAll(fd, new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength));
    }
    const nbytes = ggmlNBytes(t.type, t.ne);
    writeAll(fd, new Uint8Array(alignUp(nbytes, alignment) - nbytes));
}

/**
 * Writes a GGUF v3 file atomically (to `<path>.tmp-<pid>`, then renamed over `path`).
 * Tensor data is streamed in chunks so memory stays bounded. The alignment is `opts.alignment`,
 * else the metadata's `general.alignment`, else 32; `general.alignment` is written to match.
 * Throws an error naming the key or tensor for invalid metadata or tensors.
 */
export function writeGGUF(
    path: string,
    metadata: Map<string, GGUFKV> | [string, GGUFKV][],
    tensors: GGUFWriteTensor[],
    opts: { alignment?: number } = {},
): void {
    const { entries, alignment } = metadataToWrite(metadata, opts.alignment, path);
    const names = new Set<string>();
    for (const t of tensors) {
        validateTensor(t, names, path);
    }
    const head = encodeHead(entries, tensors, alignment);
    const tmp = `${path}.tmp-${process.pid}`;
    const fd = writing(path, () => openSync(tmp, "w"));
    try {
        try {
            writeAll(fd, head);
            for (const t of tensors) {
                writeTensorData(fd, t, alignment);
            }
            fsyncSync(fd);
        } finally {
            closeSync(fd);
        }
        renameSync(tmp, path);
    } catch (e) {
        rmSync(tmp, { force: true });
        throw writeError(e, path);
    }
}
