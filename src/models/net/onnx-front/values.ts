/**
 * Values of the ONNX front end. ONNX computes in NCHW; the IR in NHWC. A computed rank-4 ONNX
 * value is kept "channels-last" (cl): the IR value is the ONNX value transposed to NHWC, so
 * convolutions, pooling and elementwise ops need no transposes. Ops that care about the
 * element order (Reshape, Flatten, Transpose) first get the value in ONNX order (toPlain).
 */
import * as tf from '@tensorflow/tfjs';
import type { ConstTensor } from '../../onnx/read';
import type { StepDesc } from '../ir';
import { runStep } from '../ops-table';
import type { ProgramBuilder } from '../program';
import { BATCH } from './fold';

export type Val = { kind: 'const'; c: ConstTensor } | { kind: 'value'; ir: string; cl: boolean };

export class UnsupportedError extends Error {}

/** NCHW axis -> NHWC axis. */
export const NHWC_OF = [0, 3, 1, 2];

export class FrontValues {
  private readonly probe = new Map<string, tf.Tensor>();
  private count = 0;

  constructor(private readonly b: ProgramBuilder) {}

  /** Registers the program input (NHWC, batch 1 probe). */
  input(ir: string, probe: tf.Tensor): void {
    this.probe.set(ir, probe);
  }

  private probeOf(ir: string): tf.Tensor {
    const t = this.probe.get(ir) ?? this.b.constOf(ir);
    if (!t) throw new Error(`value ${ir} has no probe`);
    return t;
  }

  /** Adds a step and runs it on the probe, so that every value's shape is known while compiling. */
  emit(label: string, inputs: string[], desc: StepDesc, cl: boolean): Val {
    const ir = `${label}#${this.count++}`;
    this.b.add(label, inputs, ir, desc);
    this.probe.set(ir, tf.tidy(() => runStep(desc, inputs.map((i) => this.probeOf(i)))));
    return { kind: 'value', ir, cl };
  }

  /** The IR shape (NHWC when cl) of a computed value, batch 1. */
  irShape(v: Val & { kind: 'value' }): number[] {
    return this.probeOf(v.ir).shape.slice();
  }

  /** The ONNX shape of a value, the batch as BATCH. */
  shape(v: Val): number[] {
    if (v.kind === 'const') return v.c.dims.slice();
    const s = this.irShape(v);
    const onnx = v.cl ? [s[0], s[3], s[1], s[2]] : s;
    onnx[0] = BATCH;
    return onnx;
  }

  /** A constant as an IR constant, laid out for ops whose other operand is cl (rank 4) or plain. */
  constant(c: ConstTensor, cl: boolean, outRank: number): string {
    const name = `const#${this.count++}`;
    let t: tf.Tensor;
    const n = c.data.length;
    if (n === 1) t = tf.scalar(c.data[0]);
    else if (cl) {
      const dims = [...new Array(outRank - c.dims.length).fill(1), ...c.dims];
      if (dims.length !== 4) throw new UnsupportedError(`a constant of shape [${c.dims}] broadcast against a rank-${outRank} value`);
      if (dims[1] === n) t = tf.tensor1d(Float32Array.from(c.data));
      else t = tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(c.data), dims as [number, number, number, number]), [0, 2, 3, 1]));
    } else {
      t = tf.tensor(Float32Array.from(c.data), c.dims);
    }
    this.b.setConst(name, t);
    t.dispose();
    return name;
  }

  /** The value in ONNX element order. */
  toPlain(v: Val & { kind: 'value' }, label: string): Val & { kind: 'value' } {
    if (!v.cl) return v;
    const [, h, w, c] = this.irShape(v);
    // [N, 1, 1, C] has the same element order in both layouts.
    const desc: StepDesc = h === 1 && w === 1 ? { op: 'reshape', rest: [c, 1, 1] } : { op: 'transpose', perm: [0, 3, 1, 2] };
    return this.emit(`${label}/nchw`, [v.ir], desc, false) as Val & { kind: 'value' };
  }

  /** A plain rank-4 value (ONNX order) as channels-last. */
  toCl(v: Val & { kind: 'value' }, label: string): Val & { kind: 'value' } {
    if (v.cl) return v;
    const s = this.irShape(v);
    if (s.length !== 4) return v;
    const [, c, h, w] = s;
    const desc: StepDesc = h === 1 && w === 1 ? { op: 'reshape', rest: [1, 1, c] } : { op: 'transpose', perm: [0, 2, 3, 1] };
    return this.emit(`${label}/nhwc`, [v.ir], desc, true) as Val & { kind: 'value' };
  }

  /** Frees the probe values (the program input's probe included). */
  dispose(): void {
    for (const t of this.probe.values()) t.dispose();
    this.probe.clear();
  }
}
