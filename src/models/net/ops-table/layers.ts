/** Table entries for the weighted layers: conv / depthwise conv and dense, with fused activations. */
import * as tf from '@tensorflow/tfjs';
import { convBiasAct, denseBiasAct, type ConvLayer, type FusedActivation } from '../ops';
import { ExportCtx, ExportError, OpEntry } from './types';

/** The tensor's data, synchronously (weights are small enough; export runs once at load). */
export const read = (t: tf.Tensor) => t.dataSync() as Float32Array;

/** The data of t transposed by perm (the transposed tensor is freed). */
export function readTransposed(t: tf.Tensor, perm: number[]): Float32Array {
  const tt = tf.transpose(t, perm);
  try {
    return read(tt);
  } finally {
    tt.dispose();
  }
}

export function exportActivation(ctx: ExportCtx, y: string, a: FusedActivation): string {
  if (a === 'relu') return ctx.g.one('Relu', [y]);
  if (a === 'relu6') return ctx.g.one('Clip', [y, ctx.g.scalar(0), ctx.g.scalar(6)]);
  return y;
}

/**
 * dy where the activation's output y is in its linear region, else 0, written with HardSigmoid
 * (clip(alpha * y + beta, 0, 1)) and Mul alone: onnxruntime keeps those in its blocked NCHWc
 * layout, where comparisons and Where make it convert the layout back and forth around every
 * mask (measured on MobileNetV2 and InceptionV3: docs/PERFORMANCE.md).
 * relu6: with alpha = 2^100, clip(2^100 * y) is exactly 1 for y >= 2^-100 and 0 at y = 0, and
 * clip(2^100 * (6 - y)) is exactly 1 below 6 and 0 from 6 on (Sterbenz: 6 - y is exact near 6);
 * only outputs in (0, 2^-100) get a fraction instead of 1. relu: alpha = 2^127, so every
 * positive normal float gets exactly 1.
 */
export function maskByOutput(ctx: ExportCtx, dy: string, y: string, a: FusedActivation): string {
  if (a === 'linear') return dy;
  const g = ctx.g;
  if (a === 'relu6') {
    const above0 = g.one('HardSigmoid', [y], { alpha: { float: MASK_SCALE }, beta: { float: 0 } });
    const below6 = g.one('HardSigmoid', [y], { alpha: { float: -MASK_SCALE }, beta: { float: 6 * MASK_SCALE } });
    return g.one('Mul', [dy, g.one('Mul', [above0, below6])]);
  }
  return g.one('Mul', [dy, g.one('HardSigmoid', [y], { alpha: { float: RELU_MASK_SCALE }, beta: { float: 0 } })]);
}

const MASK_SCALE = 2 ** 100;
/** relu's mask: 2^127 * y >= 1 for every positive normal float y (relu6's beta, 6 * scale, must stay finite). Exported for tests. */
export const RELU_MASK_SCALE = 2 ** 127;

/**
 * The Conv pads that compute a stride-1 ConvTranspose with the same attributes (the kernel flipped
 * in space, in/out channels swapped): (k - 1) * d - p on each side. Undefined where no Conv does
 * it (a stride above 1, or pads wider than the kernel). Why: onnxruntime runs Conv in its blocked
 * NCHWc kernels and ConvTranspose in plain ones, about half as fast (MobileNetV2's backward).
 */
export function convTransposeAsConvPads(kernel: number[], strides: number[], dilations: number[], pads: number[]): number[] | undefined {
  if (strides.some((s) => s !== 1)) return undefined;
  const [kh, kw] = kernel, [dh, dw] = dilations, [top, left, bottom, right] = pads;
  const out = [(kh - 1) * dh - top, (kw - 1) * dw - left, (kh - 1) * dh - bottom, (kw - 1) * dw - right];
  return out.some((p) => p < 0) ? undefined : out;
}

/** Weights (shared by the Conv and its ConvTranspose) and attributes of a conv layer on an NHWC input shape. */
function convParts(ctx: ExportCtx, l: ConvLayer, xShape: number[]) {
  const [kh, kw, ci, co] = l.filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    l.filter.shape,
    l.geometry.strides,
    l.geometry.dilations,
    l.geometry.pad as 'same',
    l.geometry.dimRoundingMode,
    l.depthwise,
  );
  const { top, bottom, left, right } = info.padInfo;
  let name = ctx.convWeights.get(l);
  if (!name) {
    // tfjs [kh, kw, ci, co] -> ONNX [co, ci, kh, kw]; depthwise [kh, kw, C, M] -> [C*M, 1, kh, kw] (channel c*M + m).
    const data = readTransposed(l.filter, l.depthwise ? [2, 3, 0, 1] : [3, 2, 0, 1]);
    name = ctx.g.floats(l.depthwise ? [ci * co, 1, kh, kw] : [co, ci, kh, kw], data, 'w');
    ctx.convWeights.set(l, name);
  }
  const [sh, sw] = l.geometry.strides, [dh, dw] = l.geometry.dilations;
  // ConvTranspose's output is (out - 1) * s + (k - 1) * d + 1 - pads; output_padding adds the input rows no window reached.
  const outputPadding = [
    xShape[1] - ((info.outHeight - 1) * sh + (kh - 1) * dh + 1 - top - bottom),
    xShape[2] - ((info.outWidth - 1) * sw + (kw - 1) * dw + 1 - left - right),
  ];
  return {
    name,
    outputPadding,
    attrs: { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [top, left, bottom, right], group: l.depthwise ? ci : 1 },
  };
}

/** The input gradient of a conv: a Conv with the flipped kernel at stride 1 (see convTransposeAsConvPads), else ConvTranspose. */
function convInputGradient(ctx: ExportCtx, l: ConvLayer, dy: string, parts: ReturnType<typeof convParts>): string {
  const { kernel_shape, strides, dilations, pads, group } = parts.attrs;
  const convPads = convTransposeAsConvPads(kernel_shape, strides, dilations, pads);
  if (!convPads) return ctx.g.one('ConvTranspose', [dy, parts.name], { ...parts.attrs, output_padding: parts.outputPadding });
  let flipped = ctx.convFlipped.get(l);
  if (!flipped) {
    // tfjs [kh, kw, ci, co] reversed in space -> ONNX [ci, co, kh, kw]: the backward conv maps co channels to ci.
    // Depthwise [kh, kw, C, M] -> [C, M, kh, kw]: C groups of M gradient channels each give one input channel.
    const t = tf.reverse(l.filter, [0, 1]);
    try {
      const [kh, kw, ci, co] = l.filter.shape;
      flipped = ctx.g.floats([ci, co, kh, kw], readTransposed(t, [2, 3, 0, 1]), 'wflip');
    } finally {
      t.dispose();
    }
    ctx.convFlipped.set(l, flipped);
  }
  return ctx.g.one('Conv', [dy, flipped], { kernel_shape, strides, dilations, pads: convPads, group });
}

export const conv: OpEntry<'conv'> = {
  forward: (d, [x]) => convBiasAct(x as tf.Tensor4D, d.layer),
  exportOp(ctx, d, step, [x]) {
    const inShape = ctx.shapeOf(step.inputs[0]);
    const parts = convParts(ctx, d.layer, inShape);
    const { name, attrs } = parts;
    const bias = d.layer.bias ? [ctx.g.floats([d.layer.bias.shape[0]], read(d.layer.bias), 'b')] : [];
    const y = exportActivation(ctx, ctx.g.one('Conv', [x, name, ...bias], attrs), d.layer.activation);
    return {
      y,
      back: (dy) => [convInputGradient(ctx, d.layer, maskByOutput(ctx, dy, y, d.layer.activation), parts)],
    };
  },
};

export const dense: OpEntry<'dense'> = {
  forward(d, [x]) {
    // Dense acts on the last axis of any rank.
    if (x.rank === 2) return denseBiasAct(x as tf.Tensor2D, d.layer);
    const lead = x.shape.slice(0, -1);
    const y = denseBiasAct(tf.reshape(x, [-1, x.shape[x.rank - 1]]), d.layer);
    return tf.reshape(y, [...lead, d.layer.kernel.shape[1]]);
  },
  exportOp(ctx, d, step, [x]) {
    const rank = ctx.shapeOf(step.inputs[0]).length;
    if (rank !== 2) throw new ExportError(`dense step ${step.name} has a rank-${rank} input`);
    const [k, u] = d.layer.kernel.shape;
    const g = ctx.g;
    let y = g.one('MatMul', [x, g.floats([k, u], read(d.layer.kernel), 'w')]);
    if (d.layer.bias) y = g.one('Add', [y, g.floats([u], read(d.layer.bias), 'b')]);
    y = exportActivation(ctx, y, d.layer.activation);
    return {
      y,
      back: (dy) => [g.one('MatMul', [maskByOutput(ctx, dy, y, d.layer.activation), g.floats([u, k], readTransposed(d.layer.kernel, [1, 0]), 'wT')])],
    };
  },
};
