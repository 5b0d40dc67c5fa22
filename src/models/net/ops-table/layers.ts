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

/** dy where the activation's output y is in its linear region, else 0. */
export function maskByOutput(ctx: ExportCtx, dy: string, y: string, a: FusedActivation): string {
  if (a === 'linear') return dy;
  const g = ctx.g;
  const zero = g.scalar(0);
  let on = g.one('Greater', [y, zero]);
  if (a === 'relu6') on = g.one('And', [on, g.one('Less', [y, g.scalar(6)])]);
  return g.one('Where', [on, dy, zero]);
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

export const conv: OpEntry<'conv'> = {
  forward: (d, [x]) => convBiasAct(x as tf.Tensor4D, d.layer),
  exportOp(ctx, d, step, [x]) {
    const inShape = ctx.shapeOf(step.inputs[0]);
    const { name, attrs, outputPadding } = convParts(ctx, d.layer, inShape);
    const bias = d.layer.bias ? [ctx.g.floats([d.layer.bias.shape[0]], read(d.layer.bias), 'b')] : [];
    const y = exportActivation(ctx, ctx.g.one('Conv', [x, name, ...bias], attrs), d.layer.activation);
    return {
      y,
      back: (dy) => [ctx.g.one('ConvTranspose', [maskByOutput(ctx, dy, y, d.layer.activation), name], { ...attrs, output_padding: outputPadding })],
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
