/** Table entries for add, sub, mul, div with numpy broadcasting (constants or computed values). */
import * as tf from '@tensorflow/tfjs';
import { OpEntry, reduceTo } from './types';

export const add: OpEntry<'add'> = {
  forward: (_, xs) => (xs.length === 1 ? xs[0] : xs.length === 2 ? tf.add(xs[0], xs[1]) : xs.slice(1).reduce((a, v) => tf.add(a, v), xs[0])),
  exportOp(ctx, _, step, ins) {
    const out = ctx.shapeOf(step.out);
    return {
      y: ins.length === 1 ? ins[0] : ctx.g.one('Sum', ins),
      back: (dy) => step.inputs.map((k) => (ctx.isConst(k) ? undefined : reduceTo(ctx, dy, out, ctx.shapeOf(k), step))),
    };
  },
};

export const sub: OpEntry<'sub'> = {
  forward: (_, [a, b]) => tf.sub(a, b),
  exportOp(ctx, _, step, [a, b]) {
    const out = ctx.shapeOf(step.out);
    return {
      y: ctx.g.one('Sub', [a, b]),
      back: (dy) =>
        step.inputs.map((k, j) => {
          if (ctx.isConst(k)) return undefined;
          const r = reduceTo(ctx, dy, out, ctx.shapeOf(k), step);
          return j === 0 ? r : ctx.g.one('Neg', [r]);
        }),
    };
  },
};

export const mul: OpEntry<'mul'> = {
  forward: (_, xs) => xs.slice(1).reduce((a, v) => tf.mul(a, v), xs[0]),
  exportOp(ctx, _, step, ins) {
    const g = ctx.g;
    const out = ctx.shapeOf(step.out);
    const y = ins.slice(1).reduce((a, v) => g.one('Mul', [a, v]), ins[0]);
    return {
      y,
      back: (dy) =>
        step.inputs.map((k, j) => {
          if (ctx.isConst(k)) return undefined;
          // d/dx_j of a product: dy times every other factor.
          const others = ins.filter((_, i) => i !== j);
          return reduceTo(ctx, others.reduce((a, v) => g.one('Mul', [a, v]), dy), out, ctx.shapeOf(k), step);
        }),
    };
  },
};

export const div: OpEntry<'div'> = {
  forward: (_, [a, b]) => tf.div(a, b),
  exportOp(ctx, _, step, [a, b]) {
    const g = ctx.g;
    const out = ctx.shapeOf(step.out);
    const y = g.one('Div', [a, b]);
    return {
      y,
      back: (dy) => [
        ctx.isConst(step.inputs[0]) ? undefined : reduceTo(ctx, g.one('Div', [dy, b]), out, ctx.shapeOf(step.inputs[0]), step),
        // d(a/b)/db = -y / b.
        ctx.isConst(step.inputs[1]) ? undefined : reduceTo(ctx, g.one('Neg', [g.one('Div', [g.one('Mul', [dy, y]), b])]), out, ctx.shapeOf(step.inputs[1]), step),
      ],
    };
  },
};
