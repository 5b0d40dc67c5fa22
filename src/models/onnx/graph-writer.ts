/** Builds an ONNX graph's node and initializer lists with fresh value names. */
import type { AttrValue, OnnxInitializer, OnnxNode } from './proto';

export class GraphWriter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private count = 0;

  fresh(base: string): string {
    return `${base}#${this.count++}`;
  }

  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1, base = op): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(base));
    this.nodes.push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  one(op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    return this.op(op, inputs, attrs)[0];
  }

  floats(dims: number[], data: Float32Array | number[], base = 'const'): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims, data: data instanceof Float32Array ? data : Float32Array.from(data) });
    return name;
  }

  int64s(values: number[], base = 'shape'): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  scalar(v: number): string {
    return this.floats([], [v], 'scalar');
  }
}
