/**
 * The network IR: what each step of a compiled program computes, as data. Every front end (tfjs
 * Layers, tfjs Graph, ONNX) emits these; the op table (./ops-table) gives each op its tfjs
 * forward (with fast input gradients where tfjs' own are slow on wasm) and its ONNX export
 * (forward and input-gradient nodes). A step's behaviour is derived from its description, so
 * the two cannot disagree.
 *
 * Layout: rank-4 values are NHWC, as tfjs computes them. Front ends of NCHW formats convert
 * (src/models/net/compile-onnx.ts); the ONNX export stores rank-4 values as NCHW again.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ConvLayer, DenseLayer, PoolLayer } from './ops';

export type StepDesc =
  /** conv or depthwise conv + bias + fused activation (tfjs NHWC layer). */
  | { op: 'conv'; layer: ConvLayer }
  /** x @ W + b + fused activation, over the last axis. */
  | { op: 'dense'; layer: DenseLayer }
  | { op: 'pool'; layer: PoolLayer }
  | { op: 'relu' }
  | { op: 'relu6' }
  | { op: 'clip'; min: number; max: number }
  | { op: 'leakyRelu'; alpha: number }
  | { op: 'sigmoid' }
  /** clip(alpha * x + beta, 0, 1). */
  | { op: 'hardSigmoid'; alpha: number; beta: number }
  | { op: 'tanh' }
  /** Natural log (of a network that outputs probabilities). */
  | { op: 'log' }
  /** Elementwise sum of the inputs, broadcasting (constants: per-channel [C] or scalar). */
  | { op: 'add' }
  /** a - b, broadcasting as for add. */
  | { op: 'sub' }
  /** Elementwise product of the inputs, broadcasting. */
  | { op: 'mul' }
  /** a / b, broadcasting. */
  | { op: 'div' }
  /** x * scale + shift per channel (last axis): inference batch norm. */
  | { op: 'affine'; scale: tf.Tensor1D; shift: tf.Tensor1D }
  /** Concatenation along an axis (negative counts from the end). */
  | { op: 'concat'; axis: number }
  /** Mean over axes. */
  | { op: 'mean'; axes: number[]; keepDims: boolean }
  /** Constant padding, one [before, after] per axis. */
  | { op: 'pad'; pads: Array<[number, number]>; value: number }
  /**
   * Same values in another shape: the batch axis is kept and `rest` (one -1 allowed) gives the
   * other axes; `squeeze` drops size-1 axes instead (empty: every one but the batch); with
   * neither, the identity.
   */
  | { op: 'reshape'; rest?: number[]; squeeze?: number[] }
  | { op: 'transpose'; perm: number[] }
  /** tf.slice semantics: begin per axis, size per axis (-1 = to the end). */
  | { op: 'slice'; begin: number[]; size: number[] }
  /** A tfjs closure the IR has no op for (a layer run by tfjs itself): runs, never exports. */
  | { op: 'tfjs'; run: (xs: tf.Tensor[]) => tf.Tensor; what: string };

export type OpName = StepDesc['op'];
export type DescOf<K extends OpName> = Extract<StepDesc, { op: K }>;
