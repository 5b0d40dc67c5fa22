/** Table entries for ops that move data: concat, mean, pad, reshape, transpose, slice; and tfjs closures. */
import * as tf from '@tensorflow/tfjs';
import {
  ExportCtx, ExportError, OpEntry, StepView, physicalAxis, physicalOrder, physicalShape, toLogical, toPhysical, toPhysicalPerm,
} from './types';

/** Past any real extent: "to the end" for ONNX Slice. */
const END = 2 ** 62;

export const concat: OpEntry<'concat'> = {
  forward: (d, xs) => tf.concat(xs, d.axis),
  exportOp(ctx, d, step, ins) {
    const rank = ctx.shapeOf(step.out).length;
    const a = d.axis < 0 ? d.axis + rank : d.axis;
    const axis = physicalAxis(a, rank);
    const sizes = step.inputs.map((k) => ctx.shapeOf(k)[a]);
    return {
      y: ctx.g.one('Concat', ins, { axis }),
      back: (dy) => {
        const parts = ctx.g.op('Split', [dy, ctx.g.int64s(sizes)], { axis }, sizes.length);
        return step.inputs.map((k, j) => (ctx.isConst(k) ? undefined : parts[j]));
      },
    };
  },
};

export const mean: OpEntry<'mean'> = {
  forward: (d, [x]) => tf.mean(x, d.axes, d.keepDims),
  exportOp(ctx, d, step, [x]) {
    const inShape = ctx.shapeOf(step.inputs[0]);
    const rank = inShape.length;
    const logicalAxes = d.axes.map((a) => (a < 0 ? a + rank : a));
    if (logicalAxes.includes(0)) throw new ExportError(`mean step ${step.name} averages over the batch`);
    const axes = logicalAxes.map((a) => physicalAxis(a, rank)).sort();
    const count = logicalAxes.reduce((n, a) => n * inShape[a], 1);
    const g = ctx.g;
    return {
      y: g.one('ReduceMean', [x], { axes, keepdims: d.keepDims ? 1 : 0 }),
      back(dy) {
        const kept = physicalShape(inShape).map((v, i) => (i === 0 ? 0 : axes.includes(i) ? 1 : v));
        const full = d.keepDims ? dy : g.one('Reshape', [dy, g.int64s(kept)]);
        const target = physicalShape(inShape).map((v, i) => (i === 0 ? 1 : v));
        return [g.one('Mul', [g.one('Expand', [full, g.int64s(target)]), g.scalar(1 / count)])];
      },
    };
  },
};

export const pad: OpEntry<'pad'> = {
  forward: (d, [x]) => tf.pad(x, d.pads, d.value),
  exportOp(ctx, d, step, [x]) {
    const inShape = ctx.shapeOf(step.inputs[0]);
    if (d.pads[0][0] || d.pads[0][1]) throw new ExportError(`pad step ${step.name} pads the batch axis`);
    const p = physicalOrder(d.pads);
    const g = ctx.g;
    const before = p.map((v) => v[0]);
    const dims = physicalShape(inShape);
    return {
      y: g.one('Pad', [x, g.int64s([...before, ...p.map((v) => v[1])]), g.scalar(d.value)], { mode: 'constant' }),
      back: (dy) => [g.one('Slice', [dy, g.int64s(before), g.int64s(before.map((b, i) => (i === 0 ? END : b + dims[i]))), g.int64s(before.map((_, i) => i))])],
    };
  },
};

/** x (physical, logical shape `from`) reshaped to logical shape `to`, batch kept. */
function exportReshape(ctx: ExportCtx, x: string, from: number[], to: number[]): string {
  const g = ctx.g;
  if (from.join() === to.join()) return x;
  // [N, 1, 1, C] <-> [N, C]: the same element order in NCHW as in NHWC, no transpose.
  if (from.length === 4 && from[1] === 1 && from[2] === 1 && to.length === 2) return g.one('Flatten', [x], { axis: 1 });
  if (from.length === 2 && to.length === 4 && to[1] === 1 && to[2] === 1) return g.one('Reshape', [x, g.int64s([0, to[3], 1, 1])]);
  const logical = toLogical(ctx, x, from.length);
  return toPhysical(ctx, g.one('Reshape', [logical, g.int64s([0, ...to.slice(1)])]), to.length);
}

export const reshape: OpEntry<'reshape'> = {
  forward(d, [x]) {
    if (d.rest) return tf.reshape(x, [x.shape[0], ...d.rest]);
    // Never the batch axis, even at batch 1.
    if (d.squeeze) return tf.squeeze(x, d.squeeze.length ? d.squeeze : x.shape.map((v, i) => (v === 1 && i > 0 ? i : -1)).filter((i) => i > 0));
    return x;
  },
  exportOp(ctx, _, step, [x]) {
    const from = ctx.shapeOf(step.inputs[0]), to = ctx.shapeOf(step.out);
    return { y: exportReshape(ctx, x, from, to), back: (dy) => [exportReshape(ctx, dy, to, from)] };
  },
};

export const transpose: OpEntry<'transpose'> = {
  forward: (d, [x]) => tf.transpose(x, d.perm),
  exportOp(ctx, d, step, [x]) {
    if (d.perm[0] !== 0) throw new ExportError(`transpose step ${step.name} moves the batch axis`);
    const rank = d.perm.length;
    const p = toPhysicalPerm(rank);
    const inv = p.map((_, i) => p.indexOf(i));
    // Output axis k (physical) is logical axis p[k] of the output = logical axis perm[p[k]] of the input.
    const q = p.map((_, k) => inv[d.perm[p[k]]]);
    const qInv = q.map((_, i) => q.indexOf(i));
    const g = ctx.g;
    const isId = (v: number[]) => v.every((a, i) => a === i);
    return {
      y: isId(q) ? x : g.one('Transpose', [x], { perm: q }),
      back: (dy) => [isId(q) ? dy : g.one('Transpose', [dy], { perm: qInv })],
    };
  },
};

export const slice: OpEntry<'slice'> = {
  forward: (d, [x]) => tf.slice(x, d.begin, d.size),
  exportOp(ctx, d, step, [x]) {
    const inShape = ctx.shapeOf(step.inputs[0]);
    if (d.begin[0] !== 0 || d.size[0] !== -1) throw new ExportError(`slice step ${step.name} slices the batch axis`);
    const begin = physicalOrder(d.begin), size = physicalOrder(d.size), dims = physicalShape(inShape);
    const g = ctx.g;
    const axes = begin.map((_, i) => i);
    return {
      y: g.one('Slice', [x, g.int64s(begin), g.int64s(begin.map((b, i) => (size[i] < 0 ? END : b + size[i]))), g.int64s(axes)]),
      back: (dy) => {
        const after = begin.map((b, i) => (i === 0 || size[i] < 0 ? 0 : dims[i] - b - size[i]));
        return [g.one('Pad', [dy, g.int64s([...begin, ...after]), g.scalar(0)], { mode: 'constant' })];
      },
    };
  },
};

export const tfjs: OpEntry<'tfjs'> = {
  forward: (d, xs) => d.run(xs),
  exportOp(_, d, step: StepView) {
    throw new ExportError(`step ${step.name} (${d.what}) runs in tfjs only and cannot be exported`);
  },
};
