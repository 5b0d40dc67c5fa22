/**
 * Writes small ONNX models for tests, with the official onnx.proto (npm onnx-proto): float
 * initializers, int64 shape constants, nodes with int/float/ints/string attributes.
 */
import { onnx } from 'onnx-proto';

type AttrIn = number | number[] | string | { f: number };
export interface NodeIn {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrIn>;
  domain?: string;
}

export class OnnxBuilder {
  readonly nodes: NodeIn[] = [];
  readonly inits: onnx.ITensorProto[] = [];
  private n = 0;

  floats(dims: number[], data: ArrayLike<number>): string {
    const name = `w${this.n++}`;
    this.inits.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(Float32Array.from(data).buffer) });
    return name;
  }

  typed(dims: number[], data: ArrayLike<number>, type: 'int8' | 'uint8' | 'int32'): string {
    const name = `q${this.n++}`;
    const T = onnx.TensorProto.DataType;
    const arr = type === 'int8' ? Int8Array.from(data) : type === 'uint8' ? Uint8Array.from(data) : Int32Array.from(data);
    this.inits.push({ name, dims, dataType: type === 'int8' ? T.INT8 : type === 'uint8' ? T.UINT8 : T.INT32, rawData: new Uint8Array(arr.buffer) });
    return name;
  }

  ints(values: number[]): string {
    const name = `i${this.n++}`;
    this.inits.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }

  /** Adds a node; returns its (first) output name. */
  add(op: string, inputs: string[], attrs?: Record<string, AttrIn>, outputs = 1, domain?: string): string[] {
    const outs = Array.from({ length: outputs }, () => `v${this.n++}`);
    this.nodes.push({ op, inputs, outputs: outs, attrs, domain });
    return outs;
  }

  one(op: string, inputs: string[], attrs?: Record<string, AttrIn>, domain?: string): string {
    return this.add(op, inputs, attrs, 1, domain)[0];
  }

  encode(input: { name: string; dims: Array<number | null> }, output: string, opset = 13): Uint8Array {
    const A = onnx.AttributeProto.AttributeType;
    const attr = (name: string, v: AttrIn): onnx.IAttributeProto =>
      typeof v === 'string' ? { name, type: A.STRING, s: new TextEncoder().encode(v) }
      : Array.isArray(v) ? { name, type: A.INTS, ints: v }
      : typeof v === 'number' ? { name, type: A.INT, i: v }
      : { name, type: A.FLOAT, f: v.f };
    const vi = (name: string, dims: Array<number | null>): onnx.IValueInfoProto => ({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (d === null ? { dimParam: 'batch' } : { dimValue: d })) } } },
    });
    const model: onnx.IModelProto = {
      irVersion: 7,
      producerName: 'advserve-test',
      opsetImport: [{ domain: '', version: opset }, { domain: 'com.microsoft', version: 1 }],
      graph: {
        name: 'test',
        node: this.nodes.map((n, i) => ({ name: `node${i}_${n.op}`, opType: n.op, input: n.inputs, output: n.outputs, domain: n.domain ?? '', attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v)) })),
        initializer: this.inits,
        input: [vi(input.name, input.dims)],
        output: [{ name: output }],
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}
