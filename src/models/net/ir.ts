/**
 * Declarative descriptions of compiled steps. The tfjs program runs closures; these say what
 * each closure computes, so that a program can be exported to another runtime (ONNX, see
 * src/models/onnx). A step without a description cannot be exported.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ConvLayer, DenseLayer, PoolLayer } from './ops';

export type StepDesc =
  /** conv or depthwise conv + bias + fused activation (tfjs NHWC layer). */
  | { op: 'conv'; layer: ConvLayer }
  /** x @ W + b + fused activation, x of rank 2. */
  | { op: 'dense'; layer: DenseLayer }
  | { op: 'pool'; layer: PoolLayer }
  | { op: 'relu' }
  | { op: 'relu6' }
  | { op: 'leakyRelu'; alpha: number }
  /** Elementwise sum of the inputs; constant inputs (per-channel [C] or scalar) broadcast. */
  | { op: 'add' }
  /** a - b; constants broadcast as for add. */
  | { op: 'sub' }
  /** Product of a computed value and constants (scaling). */
  | { op: 'mul' }
  /** x * scale + shift per channel (last axis): inference batch norm. */
  | { op: 'affine'; scale: tf.Tensor1D; shift: tf.Tensor1D }
  /** Concatenation along an NHWC axis (negative counts from the end). */
  | { op: 'concat'; axis: number }
  /** Mean over NHWC axes. */
  | { op: 'mean'; axes: number[]; keepDims: boolean }
  /** Constant padding of an NHWC tensor. */
  | { op: 'pad'; pads: Array<[number, number]>; value: number }
  /** Same values, maybe another shape: identity, or a reshape/flatten/squeeze. Exportable when it does not reorder data between layouts. */
  | { op: 'reshape' };
