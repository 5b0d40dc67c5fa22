/**
 * Differentiable fused ops for compiled networks: conv/depthwise conv + bias + activation,
 * dense + bias + activation, and max/average pooling.
 *
 * Why custom: under a gradient tape tfjs' tf.fused.* falls back to unfused ops whenever the
 * activation is not linear, and its custom gradient also computes the filter and bias
 * gradients (wasted work for attacks, and a kernel that wasm lacks). Here the weights are
 * captured constants, not inputs, so the tape only ever asks for d/dx; the forward calls the
 * fused kernel directly and the gradient masks dy by the activation's derivative (from the
 * saved output) and then uses the forward-kernel transposed conv of ./conv-grad.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ConvGeometry, ConvPad, DxKernel, dxKernelTensors, inputGradWith, prepareDxKernel, shiftedSample,
} from './conv-grad';

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
  /** Precomputed kernel(s) of the transposed conv that gives dx. */
  dx: DxKernel;
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
  const geometry: ConvGeometry = { strides: o.strides, pad: o.pad, dilations: o.dilations ?? [1, 1] };
  const dx = prepareDxKernel(o.filter, geometry, o.depthwise);
  for (const t of dxKernelTensors(dx)) tf.keep(t);
  return { depthwise: o.depthwise, filter: tf.keep(o.filter), bias: o.bias ? tf.keep(o.bias) : undefined, geometry, activation: o.activation, dx };
}

export function disposeConvLayer(l: ConvLayer): void {
  l.filter.dispose();
  l.bias?.dispose();
  for (const t of dxKernelTensors(l.dx)) t.dispose();
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
          return inputGradWith(g, xShape, l.dx, l.filter.shape, l.geometry, l.depthwise);
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

/*
 * Pools. wasm's AvgPoolGrad is a plain loop (tens of ms on InceptionV3's early layers), and
 * wasm's MaxPoolGrad is both slow and wrong for windows whose values are all negative (it
 * starts from max = 0 and sends all of dy to element 0); MaxPoolWithArgmax has the same bug.
 * Average pooling is a depthwise conv with a ones kernel scaled by 1/count, so its input
 * gradient is the transposed depthwise conv above. Max pooling's gradient is built from
 * tensor ops at output resolution: per window tap, (x_tap == y) splits dy among the maxima,
 * and the taps are scattered back phase by phase (shifted adds, then an interleave).
 */

export interface PoolLayer {
  kind: 'max' | 'avg';
  size: [number, number];
  strides: [number, number];
  pad: 'same' | 'valid';
  /** dx kernels of the ones depthwise conv, for the avg-pool gradient, by channel count. Owned. */
  ones: Map<number, DxKernel>;
}

export function makePoolLayer(kind: 'max' | 'avg', size: [number, number], strides: [number, number], pad: 'same' | 'valid'): PoolLayer {
  return { kind, size, strides, pad, ones: new Map() };
}

export function disposePoolLayer(l: PoolLayer): void {
  for (const k of l.ones.values()) for (const t of dxKernelTensors(k)) t.dispose();
  l.ones.clear();
}

/** Ones kernel [kh,kw,C,1] prepared for the transposed depthwise conv; created once per C and kept. */
function onesKernel(l: PoolLayer, c: number, g: ConvGeometry) {
  let k = l.ones.get(c);
  if (!k) {
    const ones = tf.ones([l.size[0], l.size[1], c, 1]) as tf.Tensor4D;
    k = prepareDxKernel(ones, g, true);
    for (const t of dxKernelTensors(k)) tf.keep(t);
    ones.dispose();
    l.ones.set(c, k);
  }
  return k;
}

/** 1/(number of non-padding inputs) of every pooling window: [1, OH, OW, 1] (or a scalar for 'valid'). */
function inverseCount(xShape: number[], l: PoolLayer): tf.Tensor {
  if (l.pad === 'valid') return tf.scalar(1 / (l.size[0] * l.size[1]));
  const ones = tf.ones([1, xShape[1], xShape[2], 1]) as tf.Tensor4D;
  return tf.reciprocal(tf.depthwiseConv2d(ones, tf.ones([l.size[0], l.size[1], 1, 1]) as tf.Tensor4D, l.strides, 'same'));
}

/** d/dx of maxPool(x) = y given dy; ties split dy evenly (a valid subgradient). */
function maxPoolGrad(x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, l: PoolLayer): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(x.shape, l.size, l.strides, 1, l.pad);
    const { top, left } = info.padInfo;
    const [kh, kw] = l.size, [sh, sw] = l.strides;
    const [n, oh, ow, c] = y.shape;
    // Padded positions hold a huge negative number so they never equal a window's max (not
    // -inf: the taps are sampled by a one-hot conv, and 0 * -inf is NaN).
    const bottom = Math.max(0, (oh - 1) * sh + kh - top - info.inHeight), right = Math.max(0, (ow - 1) * sw + kw - left - info.inWidth);
    const xp = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], -3e38) : x;
    const hits: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const tap = shiftedSample(xp, [i, j], [sh, sw], [oh, ow]);
        // tap <= y; hit = 1 where tap == y: 1 - step(y - tap) (wasm's Equal and Cast are slow loops).
        hits.push(tf.sub(1, tf.step(tf.sub(y, tap))));
      }
    }
    const share = tf.div(dy, tf.addN(hits)); // every window has at least one hit: its max
    // Tap (i, j) of output o lands on padded row o*s + i: phase i % s, phase row o + floor(i / s).
    const qh = oh + Math.floor((kh - 1) / sh), qw = ow + Math.floor((kw - 1) / sw);
    const phases: tf.Tensor[][] = [];
    for (let rh = 0; rh < sh; rh++) {
      const row: tf.Tensor[] = [];
      for (let rw = 0; rw < sw; rw++) {
        const parts: tf.Tensor[] = [];
        for (let i = rh; i < kh; i += sh) {
          for (let j = rw; j < kw; j += sw) {
            const di = Math.floor(i / sh), dj = Math.floor(j / sw);
            const g = tf.mul(hits[i * kw + j], share);
            parts.push(tf.pad(g, [[0, 0], [di, qh - oh - di], [dj, qw - ow - dj], [0, 0]]));
          }
        }
        row.push(parts.length === 0 ? tf.zeros([n, qh, qw, c]) : parts.length === 1 ? parts[0] : tf.addN(parts));
      }
      phases.push(row);
    }
    const rows = phases.map((r) => (sw === 1 ? r[0] : tf.stack(r, 3)));
    let full = tf.reshape(sh === 1 ? rows[0] : tf.stack(rows, 2), [n, qh * sh, qw * sw, c]);
    // Input rows/cols past the last window get no gradient.
    const needH = top + info.inHeight, needW = left + info.inWidth;
    if (needH > qh * sh || needW > qw * sw) full = tf.pad(full, [[0, 0], [0, Math.max(0, needH - qh * sh)], [0, Math.max(0, needW - qw * sw)], [0, 0]]);
    return shiftedSample(full as tf.Tensor4D, [top, left], [1, 1], [info.inHeight, info.inWidth]);
  });
}

/**
 * Non-overlapping valid windows (e.g. a final 7x7/7 pool): every input of a window gets
 * dy/(kh*kw), so dx is dy repeated kh x kw times, plus zero rows/cols no window covered.
 */
function tiledAvgGrad(dy: tf.Tensor4D, xShape: number[], l: PoolLayer): tf.Tensor4D {
  const [n, oh, ow, c] = dy.shape;
  const [kh, kw] = l.size;
  // A broadcasting multiply (C++) rather than broadcastTo (wasm's Tile is a JS loop).
  const share = tf.fill([1, 1, kh, 1, kw, 1], 1 / (kh * kw));
  const tiled = tf.reshape(tf.mul(tf.reshape(dy, [n, oh, 1, ow, 1, c]), share), [n, oh * kh, ow * kw, c]);
  return tf.pad(tiled, [[0, 0], [0, xShape[1] - oh * kh], [0, xShape[2] - ow * kw], [0, 0]]) as tf.Tensor4D;
}

/** Max or average pooling with the fast gradients described above. */
export function pool(x: tf.Tensor4D, l: PoolLayer): tf.Tensor4D {
  return custom<tf.Tensor4D>((input, save) => {
    const xShape = input.shape;
    if (l.kind === 'max') {
      const y = tf.maxPool(input, l.size, l.strides, l.pad);
      save([input, y]);
      return { value: y, gradFunc: (dy, saved) => maxPoolGrad(saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D, dy, l) };
    }
    return {
      value: tf.avgPool(input, l.size, l.strides, l.pad),
      gradFunc: (dy) =>
        tf.tidy(() => {
          if (l.pad === 'valid' && l.strides[0] === l.size[0] && l.strides[1] === l.size[1]) return tiledAvgGrad(dy, xShape, l);
          const g: ConvGeometry = { strides: l.strides, pad: l.pad, dilations: [1, 1] };
          const c = xShape[3];
          const k = onesKernel(l, c, g);
          const scaled = tf.mul(dy, inverseCount(xShape, l)) as tf.Tensor4D;
          const shape = [l.size[0], l.size[1], c, 1];
          return inputGradWith(scaled, xShape, k, shape, g, true);
        }),
    };
  })(x);
}
