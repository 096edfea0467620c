/**
 * The few ONNX protobuf messages an exported model needs, encoded by hand (field numbers from onnx.proto):
 *   ModelProto        ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8
 *   OperatorSetIdProto domain 1, version 2
 *   GraphProto        node 1, name 2, initializer 5, input 11, output 12
 *   NodeProto         input 1, output 2, name 3, op_type 4, attribute 5
 *   AttributeProto    name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7)
 *   TensorProto       dims 1, data_type 2, name 8, raw_data 9 (FLOAT 1, INT64 7, BOOL 9)
 *   ValueInfoProto    name 1, type 2 -> TypeProto.tensor_type 1 -> {elem_type 1, shape 2 -> dim 1 -> {dim_value 1 | dim_param 2}}
 */

/** A protobuf message being written: fields appended in order, bytes joined at the end. */
export class Message {
    private parts: Uint8Array[] = [];
    private length = 0;

    private push(b: Uint8Array): void {
        this.parts.push(b);
        this.length += b.length;
    }

    private varint(v: number | bigint): void {
        let x = BigInt.asUintN(64, BigInt(v));
        const out: number[] = [];
        do {
            let byte = Number(x & 0x7fn);
            x >>= 7n;
            if (x) byte |= 0x80;
            out.push(byte);
        } while (x);
        this.push(Uint8Array.from(out));
    }

    private tag(field: number, wire: 0 | 2 | 5): void {
        this.varint((field << 3) | wire);
    }

    int(field: number, v: number | bigint): this {
        this.tag(field, 0);
        this.varint(v);
        return this;
    }

    float(field: number, v: number): this {
        this.tag(field, 5);
        const b = new Uint8Array(4);
        new DataView(b.buffer).setFloat32(0, v, true);
        this.push(b);
        return this;
    }

    bytes(field: number, b: Uint8Array): this {
        this.tag(field, 2);
        this.varint(b.length);
        this.push(b);
        return this;
    }

    str(field: number, s: string): this {
        return this.bytes(field, new TextEncoder().encode(s));
    }

    msg(field: number, m: Message): this {
        return this.bytes(field, m.finish());
    }

    finish(): Uint8Array {
        const out = new Uint8Array(this.length);
        let at = 0;
        for (const b of this.parts) {
            out.set(b, at);
            at += b.length;
        }
        return out;
    }
}

export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;

export function tensorProto(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): Message {
    const t = new Message();
    for (const d of dims) t.int(1, d);
    return t.int(2, dataType).str(8, name).bytes(9, raw);
}

export const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
export const i64Bytes = (a: readonly number[]) => new Uint8Array(new BigInt64Array(a.map((x) => BigInt(x))).buffer);

/** A graph input or output: element type and shape, each dimension a number or a symbolic name. */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): Message {
    const shape = new Message();
    for (const d of dims) shape.msg(1, typeof d === "number" ? new Message().int(1, d) : new Message().str(2, d));
    const tensorType = new Message().int(1, elemType).msg(2, shape);
    return new Message().str(1, name).msg(2, new Message().msg(1, tensorType));
}

export type Attribute = number | readonly number[] | { float: number } | string;

function attribute(name: string, v: Attribute): Message {
    const a = new Message().str(1, name);
    if (typeof v === "number") return a.int(3, v).int(20, 2);
    if (typeof v === "string") return a.str(4, v).int(20, 3);
    if ("float" in v) return a.float(2, v.float).int(20, 1);
    for (const x of v as readonly number[]) a.int(8, x);
    return a.int(20, 7);
}

export function nodeProto(op: string, inputs: readonly string[], outputs: readonly string[], name: string, attrs: Record<string, Attribute> = {}): Message {
    const n = new Message();
    for (const i of inputs) n.str(1, i);
    for (const o of outputs) n.str(2, o);
    n.str(3, name).str(4, op);
    for (const [k, v] of Object.entries(attrs)) n.msg(5, attribute(k, v));
    return n;
}

export function modelProto(o: {
    irVersion: number;
    opset: number;
    producer: string;
    version: string;
    name: string;
    nodes: Message[];
    initializers: Message[];
    inputs: Message[];
    outputs: Message[];
}): Uint8Array {
    const g = new Message();
    for (const n of o.nodes) g.msg(1, n);
    g.str(2, o.name);
    for (const t of o.initializers) g.msg(5, t);
    for (const i of o.inputs) g.msg(11, i);
    for (const x of o.outputs) g.msg(12, x);
    return new Message().int(1, o.irVersion).str(2, o.producer).str(3, o.version).msg(7, g).msg(8, new Message().str(1, "").int(2, o.opset)).finish();
}
