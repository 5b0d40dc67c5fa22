/**
 * Differentiable fused ops for compiled networks: conv/depthwise conv + bias + activation, and
 * dense + bias + activation.
 *
 * Why custom: under a gradient tape tfjs' tf.fused.* falls back to unfused ops whenever the
 * activation is not linear, and its custom gradient also computes the filter and bias
 * gradients (wasted work for attacks, and a kernel that wasm lacks). Here the weights are
 * captured constants, not inputs, so the tape only ever asks for d/dx; the forward calls the
 * fused kernel directly and the gradient masks dy by the activation's derivative (from the
 * saved output) and then uses the forward-kernel transposed conv of ./conv-grad.
 */
import * as tf from '@tensorflow/tfjs';
import { ConvGeometry, ConvPad, conv2dInputGrad, depthwiseInputGrad, flipConvFilter, flipDepthwiseFilter } from './conv-grad';

/** Activations that the wasm fused kernels apply and whose derivative we read from the output. */
export type FusedActivation = 'linear' | 'relu' | 'relu6';

export function isFusedActivation(name: unknown): name is FusedActivation {
  return name === 'linear' || name === 'relu' || name === 'relu6';
}

export interface ConvLayer {
  depthwise: boolean;
  /** [kh,kw,ci,co] for conv, [kh,kw,C,M] for depthwise. Owned (kept) by this layer. */
  filter: tf.Tensor4D;
  bias?: tf.Tensor1D;
  /** Precomputed kernel of the transposed conv that gives dx. */
  flipped: tf.Tensor4D;
  geometry: ConvGeometry;
  activation: FusedActivation;
}

export interface ConvLayerOptions {
  depthwise: boolean;
  filter: tf.Tensor4D;
  bias?: tf.Tensor1D;
  strides: [number, number];
  pad: ConvPad;
  dilations?: [number, number];
  activation: FusedActivation;
}

/** Takes ownership of filter and bias (keeps them; disposeConvLayer frees them). */
export function makeConvLayer(o: ConvLayerOptions): ConvLayer {
  const flipped = o.depthwise ? flipDepthwiseFilter(o.filter) : flipConvFilter(o.filter);
  return {
    depthwise: o.depthwise,
    filter: tf.keep(o.filter),
    bias: o.bias ? tf.keep(o.bias) : undefined,
    flipped: tf.keep(flipped),
    geometry: { strides: o.strides, pad: o.pad, dilations: o.dilations ?? [1, 1] },
    activation: o.activation,
  };
}

export function disposeConvLayer(l: ConvLayer): void {
  l.filter.dispose();
  l.bias?.dispose();
  l.flipped.dispose();
}

/** dy times the activation's derivative, read from the activation's OUTPUT y. */
export function maskByActivation(dy: tf.Tensor, y: tf.Tensor, activation: FusedActivation): tf.Tensor {
  switch (activation) {
    case 'linear':
      return dy;
    case 'relu':
      return tf.mul(dy, tf.step(y)); // step(y) = 1 where y > 0, else 0
    case 'relu6':
      // 0 < y < 6  <=>  y * (6 - y) > 0, for y in [0, 6]: one product, one step.
      return tf.mul(dy, tf.step(tf.mul(y, tf.sub(6, y))));
  }
}

type Fn<T extends tf.Tensor> = (x: T, save: tf.GradSaveFunc) => { value: T; gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor };

function custom<T extends tf.Tensor>(f: Fn<T>): (x: T) => T {
  // tf.customGrad's signature is variadic; ours has exactly one differentiable input.
  const g = tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x: T) => g(x) as T;
}

function convForward(x: tf.Tensor4D, l: ConvLayer): tf.Tensor4D {
  const inputs: tf.NamedTensorMap = { x, filter: l.filter };
  if (l.bias) inputs.bias = l.bias;
  const attrs = {
    strides: l.geometry.strides,
    pad: l.geometry.pad,
    dataFormat: 'NHWC',
    dilations: l.geometry.dilations,
    dimRoundingMode: undefined,
    activation: l.activation,
  };
  const kernel = l.depthwise ? 'FusedDepthwiseConv2D' : 'FusedConv2D';
  return tf.engine().runKernel(kernel, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** activation(conv(x, W) + b), fused in the forward; d/dx only in the backward. */
export function convBiasAct(x: tf.Tensor4D, l: ConvLayer): tf.Tensor4D {
  return custom<tf.Tensor4D>((input, save) => {
    const y = convForward(input, l);
    if (l.activation !== 'linear') save([y]);
    const xShape = input.shape;
    return {
      value: y,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const g = l.activation === 'linear' ? dy : (maskByActivation(dy, saved[0], l.activation) as tf.Tensor4D);
          return l.depthwise
            ? depthwiseInputGrad(g, xShape, l.flipped, l.filter.shape, l.geometry)
            : conv2dInputGrad(g, xShape, l.flipped, l.filter.shape, l.geometry);
        }),
    };
  })(x);
}

export interface DenseLayer {
  /** [in, out], owned. */
  kernel: tf.Tensor2D;
  bias?: tf.Tensor1D;
  activation: FusedActivation;
}

/** Takes ownership of kernel and bias. */
export function makeDenseLayer(kernel: tf.Tensor2D, bias: tf.Tensor1D | undefined, activation: FusedActivation): DenseLayer {
  return { kernel: tf.keep(kernel), bias: bias ? tf.keep(bias) : undefined, activation };
}

export function disposeDenseLayer(l: DenseLayer): void {
  l.kernel.dispose();
  l.bias?.dispose();
}

/** activation(x @ W + b) for x [N, in], through wasm's fused matmul; d/dx = mask(dy) @ W^T. */
export function denseBiasAct(x: tf.Tensor2D, l: DenseLayer): tf.Tensor2D {
  return custom<tf.Tensor2D>((input, save) => {
    const [n, k] = input.shape;
    const units = l.kernel.shape[1];
    const inputs: tf.NamedTensorMap = { a: tf.reshape(input, [1, n, k]), b: tf.reshape(l.kernel, [1, k, units]) };
    if (l.bias) inputs.bias = l.bias;
    const attrs = { transposeA: false, transposeB: false, activation: l.activation };
    const y3 = tf.engine().runKernel('_FusedMatMul', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor3D;
    const y = tf.reshape(y3, [n, units]) as tf.Tensor2D;
    if (l.activation !== 'linear') save([y]);
    return {
      value: y,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const g = l.activation === 'linear' ? dy : maskByActivation(dy, saved[0], l.activation);
          return tf.matMul(g as tf.Tensor2D, l.kernel, false, true);
        }),
    };
  })(x);
}
