/**
 * Just enough protobuf to write an ONNX ModelProto (onnx/onnx.proto, IR version 8): a model
 * with one graph of nodes, float/int64 initializers, and typed inputs and outputs. Written by
 * hand because the alternative (protobufjs plus onnx.proto) is a large dependency for ~10 message
 * fields, and nothing here is ever parsed back except by onnxruntime.
 */

class Writer {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    this.push(Uint8Array.from(out));
  }

  tag(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  float(field: number, f: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    this.push(b);
  }

  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** ONNX TensorProto.DataType values used here. */
export const FLOAT = 1;
export const INT64 = 7;

export type AttrValue = number | string | number[] | { floats: number[] } | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** Float32Array for FLOAT, BigInt64Array for INT64. */
  data: Float32Array | BigInt64Array;
}

export interface OnnxValue {
  name: string;
  /** null: a symbolic dimension (the batch). */
  dims: Array<number | null>;
}

export interface OnnxModel {
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  opset: number;
}

function writeAttr(w: Writer, name: string, v: AttrValue): void {
  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20.
  w.string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: ${v} is not an integer (use { float })`);
    w.int(3, v);
    w.int(20, 2);
  } else if (typeof v === 'string') {
    w.string(4, v);
    w.int(20, 3);
  } else if (Array.isArray(v)) {
    for (const i of v) w.int(8, i);
    w.int(20, 7);
  } else if ('floats' in v) {
    for (const f of v.floats) w.float(7, f);
    w.int(20, 6);
  } else {
    w.float(2, v.float);
    w.int(20, 1);
  }
}

function writeValueInfo(w: Writer, v: OnnxValue): void {
  // ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1, shape 2 -> dim 1 -> dim_value 1 | dim_param 2.
  w.string(1, v.name);
  w.message(2, (t) =>
    t.message(1, (tt) => {
      tt.int(1, FLOAT);
      tt.message(2, (s) => {
        for (const d of v.dims) s.message(1, (dim) => (d === null ? dim.string(2, 'N') : dim.int(1, d)));
      });
    }),
  );
}

/** Serialises a model to ONNX protobuf bytes. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'advserve');
  w.message(7, (g) => {
    // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
    m.nodes.forEach((n, i) =>
      g.message(1, (nw) => {
        for (const x of n.inputs) nw.string(1, x);
        for (const y of n.outputs) nw.string(2, y);
        nw.string(3, `n${i}_${n.op}`);
        nw.string(4, n.op);
        for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, (aw) => writeAttr(aw, k, v));
      }),
    );
    g.string(2, 'advserve');
    for (const t of m.initializers) {
      g.message(5, (tw) => {
        // TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian).
        for (const d of t.dims) tw.int(1, d);
        tw.int(2, t.data instanceof BigInt64Array ? INT64 : FLOAT);
        tw.string(8, t.name);
        tw.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      });
    }
    for (const v of m.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, m.opset);
  });
  return w.finish();
}
