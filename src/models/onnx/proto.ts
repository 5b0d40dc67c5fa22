/**
 * The ONNX model the exporter writes (./export): one graph of nodes, float/int64 initializers,
 * and typed inputs and outputs, encoded with onnx-proto (the official onnx.proto compiled for
 * protobufjs, also what ./read decodes with). protobufjs' writer copies each initializer's bytes
 * once, into the finished buffer: InceptionV3's 164 MiB of weights cost 164 MiB more to encode.
 */
import { onnx } from 'onnx-proto';

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

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const type = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: ${v} is not an integer (use { float })`);
    return { name, i: v, type: type.INT };
  }
  if (typeof v === 'string') return { name, s: new TextEncoder().encode(v), type: type.STRING };
  if (Array.isArray(v)) return { name, ints: v, type: type.INTS };
  if ('floats' in v) return { name, floats: v.floats, type: type.FLOATS };
  return { name, f: v.float, type: type.FLOAT };
}

function valueInfo(v: OnnxValue): onnx.IValueInfoProto {
  const dim = v.dims.map((d) => (d === null ? { dimParam: 'N' } : { dimValue: d }));
  return { name: v.name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}

/** The name encodeModel gives the model's i-th node. */
const nodeName = (i: number, op: string) => `n${i}_${op}`;

/**
 * The nodes onnxruntime's WebGPU provider takes but cannot run, by the names encodeModel gives
 * them: MaxPool with its Indices output (the max-pool gradient's scatter), which fails at run
 * time in onnxruntime 1.30 ("The Indices output is not supported yet"). Sessions keep them on
 * the CPU provider.
 */
export function gpuCpuNodes(m: OnnxModel): string[] {
  return m.nodes.flatMap((n, i) => (n.op === 'MaxPool' && n.outputs.length > 1 ? [nodeName(i, n.op)] : []));
}

/** An encoded graph and the nodes a GPU provider must leave to the CPU in it (see gpuCpuNodes). */
export interface EncodedGraph {
  bytes: Uint8Array;
  cpuNodes: string[];
}

/** Serialises a model to ONNX protobuf bytes. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const graph: onnx.IGraphProto = {
    node: m.nodes.map((n, i) => ({
      input: n.inputs,
      output: n.outputs,
      name: nodeName(i, n.op),
      opType: n.op,
      attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
    })),
    name: 'advserve',
    initializer: m.initializers.map((t) => ({
      dims: t.dims,
      dataType: t.data instanceof BigInt64Array ? INT64 : FLOAT,
      name: t.name,
      rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), // little-endian, as ONNX wants
    })),
    input: m.inputs.map(valueInfo),
    output: m.outputs.map(valueInfo),
  };
  return onnx.ModelProto.encode({ irVersion: 8, producerName: 'advserve', graph, opsetImport: [{ domain: '', version: m.opset }] }).finish();
}
