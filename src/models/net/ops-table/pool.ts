/** Table entry for max and average pooling (tfjs 'same' / 'valid' windows). */
import * as tf from '@tensorflow/tfjs';
import { pool as poolForward, type PoolLayer } from '../ops';
import { convTransposeAsConvPads } from './layers';
import { ExportCtx, OpEntry } from './types';

function poolAttrs(l: PoolLayer, xShape: number[]) {
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], l.size, l.strides, 1, l.pad);
  const { top, bottom, left, right } = info.padInfo;
  return { kernel_shape: [...l.size], strides: [...l.strides], pads: [top, left, bottom, right] };
}

/**
 * Scatter-add dy into the input positions MaxPool's indices name. The indices are flat over
 * N, C, H, W; modulo C*H*W they index within one image, so the scatter runs per image row and
 * every shape but the batch is static. Why: onnxruntime keeps the backward half in its blocked
 * NCHWc layout only where ONNX shape inference proves two operands' shapes equal, and a shape
 * computed at run time (Shape, ConstantOfShape) hid every shape downstream of it.
 */
function maxPoolGrad(ctx: ExportCtx, dy: string, indices: string, x: string, xShape: number[]): string {
  const g = ctx.g;
  const [, h, w, c] = xShape;
  const rows = g.int64s([0, -1]);
  // Zeros of x's shape without a shape computed at run time: clip(x, 0, 0) (x - x would give NaN at an infinity).
  const zeros = g.one('Reshape', [g.one('Clip', [x, g.scalar(0), g.scalar(0)]), rows]);
  const within = g.one('Mod', [g.one('Reshape', [indices, rows]), g.int64s([c * h * w])]);
  const scattered = g.one('ScatterElements', [zeros, within, g.one('Reshape', [dy, rows])], { axis: 1, reduction: 'add' });
  return g.one('Reshape', [scattered, g.int64s([0, c, h, w])]);
}

/** Average pooling's gradient: dy / count, spread back by a ones kernel per channel (ConvTranspose, or Conv at stride 1). */
function avgPoolGrad(ctx: ExportCtx, dy: string, l: PoolLayer, xShape: number[], yShape: number[]): string {
  const c = xShape[3];
  const [kh, kw] = l.size;
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], l.size, l.strides, 1, l.pad);
  const { top, bottom, left, right } = info.padInfo;
  const [oh, ow] = [yShape[1], yShape[2]];
  // How many real (non-padding) inputs each window averaged.
  const inv = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    const r0 = Math.max(0, i * l.strides[0] - top), r1 = Math.min(xShape[1], i * l.strides[0] - top + kh);
    for (let j = 0; j < ow; j++) {
      const c0 = Math.max(0, j * l.strides[1] - left), c1 = Math.min(xShape[2], j * l.strides[1] - left + kw);
      inv[i * ow + j] = 1 / ((r1 - r0) * (c1 - c0));
    }
  }
  const g = ctx.g;
  const scaled = g.one('Mul', [dy, g.floats([1, 1, oh, ow], inv, 'invcount')]);
  const ones = g.floats([c, 1, kh, kw], new Float32Array(c * kh * kw).fill(1), 'ones');
  // At stride 1 the spread is a Conv with the same (symmetric) ones kernel, which onnxruntime runs faster.
  const convPads = convTransposeAsConvPads([kh, kw], l.strides, [1, 1], [top, left, bottom, right]);
  if (convPads) return g.one('Conv', [scaled, ones], { kernel_shape: [kh, kw], strides: [1, 1], pads: convPads, group: c });
  const outputPadding = [
    xShape[1] - ((oh - 1) * l.strides[0] + kh - top - bottom),
    xShape[2] - ((ow - 1) * l.strides[1] + kw - left - right),
  ];
  return g.one('ConvTranspose', [scaled, ones], {
    kernel_shape: [kh, kw],
    strides: [...l.strides],
    pads: [top, left, bottom, right],
    group: c,
    output_padding: outputPadding,
  });
}

export const pool: OpEntry<'pool'> = {
  forward: (d, [x]) => poolForward(x as tf.Tensor4D, d.layer),
  exportOp(ctx, d, step, [x]) {
    const inShape = ctx.shapeOf(step.inputs[0]);
    const attrs = poolAttrs(d.layer, inShape);
    if (d.layer.kind === 'max') {
      const [y, indices] = ctx.g.op('MaxPool', [x], attrs, 2);
      return { y, back: (dy) => [maxPoolGrad(ctx, dy, indices, x, inShape)] };
    }
    const y = ctx.g.one('AveragePool', [x], { ...attrs, count_include_pad: 0 });
    return { y, back: (dy) => [avgPoolGrad(ctx, dy, d.layer, inShape, ctx.shapeOf(step.out))] };
  },
};
