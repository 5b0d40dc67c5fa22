/**
 * Decodes an ONNX file (protobuf, with the official onnx.proto compiled by the npm package
 * onnx-proto) into the plain data the ONNX front end (src/models/net/compile-onnx.ts) reads:
 * nodes with decoded attributes, and initializers as typed arrays.
 */
import { onnx } from 'onnx-proto';

/** A constant tensor: floats (and 8-bit quantized values) in a Float32Array, integers exactly in a Float64Array. */
export interface ConstTensor {
  dims: number[];
  data: Float32Array | Float64Array;
  /** ONNX TensorProto.DataType. */
  type: number;
}

export type Attr = number | string | number[] | string[] | ConstTensor;

export interface OnnxNodeIn {
  op: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attr>;
}

export interface OnnxGraphIn {
  nodes: OnnxNodeIn[];
  initializers: Map<string, ConstTensor>;
  inputs: Array<{ name: string; dims: Array<number | null> }>;
  outputs: string[];
  /** The default-domain opset. */
  opset: number;
  producer: string;
}

const T = onnx.TensorProto.DataType;
const num = (v: number | { toNumber(): number } | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

/** ONNX element types we can read, with their byte sizes in raw_data. */
const RAW: Record<number, { bytes: number; get(v: DataView, at: number): number }> = {
  [T.FLOAT]: { bytes: 4, get: (v, at) => v.getFloat32(at, true) },
  [T.DOUBLE]: { bytes: 8, get: (v, at) => v.getFloat64(at, true) },
  [T.UINT8]: { bytes: 1, get: (v, at) => v.getUint8(at) },
  [T.INT8]: { bytes: 1, get: (v, at) => v.getInt8(at) },
  [T.INT32]: { bytes: 4, get: (v, at) => v.getInt32(at, true) },
  [T.INT64]: { bytes: 8, get: (v, at) => Number(v.getBigInt64(at, true)) },
  [T.BOOL]: { bytes: 1, get: (v, at) => v.getUint8(at) },
};

const isFloatish = (type: number) => type === T.FLOAT || type === T.DOUBLE || type === T.UINT8 || type === T.INT8 || type === T.FLOAT16;

export function readTensor(t: onnx.ITensorProto, where: string): ConstTensor {
  const dims = (t.dims ?? []).map(num);
  const type = t.dataType ?? 0;
  const count = dims.reduce((a, b) => a * b, 1);
  const data = isFloatish(type) ? new Float32Array(count) : new Float64Array(count);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw new Error(`${where}: tensor ${t.name} keeps its data in an external file, which is not supported (save the model with its weights inside)`);
  if (t.rawData && t.rawData.length) {
    const spec = RAW[type];
    if (!spec) throw new Error(`${where}: tensor ${t.name} has data type ${onnx.TensorProto.DataType[type] ?? type}, which is not supported`);
    if (t.rawData.length !== count * spec.bytes) throw new Error(`${where}: tensor ${t.name} has ${t.rawData.length} bytes for ${count} values`);
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    for (let i = 0; i < count; i++) data[i] = spec.get(view, i * spec.bytes);
    return { dims, data, type };
  }
  const src: ArrayLike<number | { toNumber(): number }> | null | undefined =
    type === T.FLOAT ? t.floatData : type === T.DOUBLE ? t.doubleData : type === T.INT64 ? t.int64Data : t.int32Data;
  const values = src ?? [];
  if (values.length !== count) throw new Error(`${where}: tensor ${t.name} has ${values.length} values for shape [${dims}]`);
  for (let i = 0; i < count; i++) data[i] = num(values[i]);
  return { dims, data, type };
}

function readAttr(a: onnx.IAttributeProto, where: string): Attr {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.FLOAT:
      return a.f ?? 0;
    case A.INT:
      return num(a.i);
    case A.STRING:
      return Buffer.from(a.s ?? []).toString('utf8');
    case A.TENSOR:
      return readTensor(a.t!, where);
    case A.FLOATS:
      return (a.floats ?? []).slice();
    case A.INTS:
      return (a.ints ?? []).map(num);
    case A.STRINGS:
      return (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8'));
    default:
      throw new Error(`${where}: attribute ${a.name} has type ${A[a.type ?? 0] ?? a.type}, which is not supported`);
  }
}

/** Decodes an ONNX model file. `file` names it in error messages. */
export function readOnnx(bytes: Uint8Array, file: string): OnnxGraphIn {
  let m: onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`${file} is not an ONNX model: ${(err as Error).message}`, { cause: err });
  }
  const g = m.graph;
  if (!g || !g.node?.length) throw new Error(`${file} is not an ONNX model (no graph nodes)`);
  const opset = m.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  const initializers = new Map<string, ConstTensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', readTensor(t, file));
  const nodes = g.node.map((n, i): OnnxNodeIn => {
    const name = n.name || `#${i} (${n.opType})`;
    const where = `${file}: node ${name}`;
    return {
      op: n.opType ?? '',
      domain: n.domain ?? '',
      name,
      inputs: (n.input ?? []).slice(),
      outputs: (n.output ?? []).slice(),
      attrs: new Map((n.attribute ?? []).map((a) => [a.name ?? '', readAttr(a, where)])),
    };
  });
  const inputs = (g.input ?? [])
    .filter((v) => !initializers.has(v.name ?? ''))
    .map((v) => ({ name: v.name ?? '', dims: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : null)) }));
  return { nodes, initializers, inputs, outputs: (g.output ?? []).map((v) => v.name ?? ''), opset: num(opset?.version) || 1, producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim() };
}
