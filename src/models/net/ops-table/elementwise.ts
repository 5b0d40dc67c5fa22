/** Table entries for one-input elementwise ops: activations, log, per-channel affine. */
import * as tf from '@tensorflow/tfjs';
import { maskByOutput, read } from './layers';
import { ExportError, OpEntry } from './types';

export const relu: OpEntry<'relu'> = {
  forward: (_, [x]) => tf.relu(x),
  exportOp(ctx, _, __, [x]) {
    const y = ctx.g.one('Relu', [x]);
    return { y, back: (dy) => [maskByOutput(ctx, dy, y, 'relu')] };
  },
};

export const relu6: OpEntry<'relu6'> = {
  forward: (_, [x]) => tf.relu6(x),
  exportOp(ctx, _, __, [x]) {
    const y = ctx.g.one('Clip', [x, ctx.g.scalar(0), ctx.g.scalar(6)]);
    return { y, back: (dy) => [maskByOutput(ctx, dy, y, 'relu6')] };
  },
};

export const clip: OpEntry<'clip'> = {
  forward: (d, [x]) => tf.clipByValue(x, d.min, d.max),
  exportOp(ctx, d, _, [x]) {
    const g = ctx.g;
    const bound = (v: number) => g.scalar(Math.max(-3.4e38, Math.min(3.4e38, v)));
    const y = g.one('Clip', [x, bound(d.min), bound(d.max)]);
    return {
      y,
      back(dy) {
        // Inside the open interval the slope is 1 (tfjs' clipByValue gradient uses the closed one; they differ only on a measure-zero set).
        const on = g.one('And', [g.one('Greater', [x, g.scalar(d.min)]), g.one('Less', [x, g.scalar(d.max)])]);
        return [g.one('Where', [on, dy, g.scalar(0)])];
      },
    };
  },
};

export const leakyRelu: OpEntry<'leakyRelu'> = {
  forward: (d, [x]) => tf.leakyRelu(x, d.alpha),
  exportOp(ctx, d, _, [x]) {
    const g = ctx.g;
    return {
      y: g.one('LeakyRelu', [x], { alpha: { float: d.alpha } }),
      back: (dy) => [g.one('Where', [g.one('Greater', [x, g.scalar(0)]), dy, g.one('Mul', [dy, g.scalar(d.alpha)])])],
    };
  },
};

export const sigmoid: OpEntry<'sigmoid'> = {
  forward: (_, [x]) => tf.sigmoid(x),
  exportOp(ctx, _, __, [x]) {
    const g = ctx.g;
    const y = g.one('Sigmoid', [x]);
    return { y, back: (dy) => [g.one('Mul', [dy, g.one('Mul', [y, g.one('Sub', [g.scalar(1), y])])])] };
  },
};

export const hardSigmoid: OpEntry<'hardSigmoid'> = {
  forward: (d, [x]) => tf.clipByValue(tf.add(tf.mul(x, d.alpha), d.beta), 0, 1),
  exportOp(ctx, d, _, [x]) {
    const g = ctx.g;
    const y = g.one('HardSigmoid', [x], { alpha: { float: d.alpha }, beta: { float: d.beta } });
    return {
      y,
      back(dy) {
        const on = g.one('And', [g.one('Greater', [y, g.scalar(0)]), g.one('Less', [y, g.scalar(1)])]);
        return [g.one('Where', [on, g.one('Mul', [dy, g.scalar(d.alpha)]), g.scalar(0)])];
      },
    };
  },
};

export const tanh: OpEntry<'tanh'> = {
  forward: (_, [x]) => tf.tanh(x),
  exportOp(ctx, _, __, [x]) {
    const g = ctx.g;
    const y = g.one('Tanh', [x]);
    return { y, back: (dy) => [g.one('Mul', [dy, g.one('Sub', [g.scalar(1), g.one('Mul', [y, y])])])] };
  },
};

/** Floor for log's argument: probabilities that underflowed to 0 would give -Infinity and NaN gradients. */
const TINY = 1e-30;

export const log: OpEntry<'log'> = {
  forward: (_, [x]) => tf.log(tf.maximum(x, TINY)),
  exportOp(ctx, _, __, [x]) {
    const g = ctx.g;
    const safe = g.one('Max', [x, g.scalar(TINY)]);
    return { y: g.one('Log', [safe]), back: (dy) => [g.one('Where', [g.one('Greater', [x, g.scalar(TINY)]), g.one('Div', [dy, safe]), g.scalar(0)])] };
  },
};

export const affine: OpEntry<'affine'> = {
  forward: (d, [x]) => tf.add(tf.mul(x, d.scale), d.shift),
  exportOp(ctx, d, step, [x]) {
    const shape = ctx.shapeOf(step.out);
    const c = shape[shape.length - 1];
    if (d.scale.shape[0] !== c) throw new ExportError(`affine step ${step.name}: ${d.scale.shape[0]} scales for ${c} channels`);
    const dims = shape.length === 4 ? [1, c, 1, 1] : [c];
    const g = ctx.g;
    const scale = g.floats(dims, read(d.scale), 'scale');
    return { y: g.one('Add', [g.one('Mul', [x, scale]), g.floats(dims, read(d.shift), 'shift')]), back: (dy) => [g.one('Mul', [dy, scale])] };
  },
};
