/**
 * How each ONNX operator on computed values becomes IR steps: one entry per operator, called
 * by the compiler (./compiler.ts) with the node; constant-only nodes are folded before (./fold).
 */
import * as tf from '@tensorflow/tfjs';
import type { ConstTensor, OnnxNodeIn } from '../../onnx/read';
import type { FusedActivation } from '../ops';
import { BATCH, constOf, dequantize, ints, scalarOf } from './fold';
import type { Computed, OnnxCompiler } from './compiler';
import { NHWC_OF, type Val } from './values';

export type OnnxHandler = (c: OnnxCompiler, n: OnnxNodeIn) => void;

/** Output range of a quantized tensor as the float activation it implies: relu when it starts at 0, relu6 when it is [0, 6]. */
function impliedActivation(scale: ConstTensor, zp: ConstTensor | undefined): FusedActivation {
  const s = scale.data[0], z = zp ? zp.data[0] : 0;
  const signed = zp?.type === 3;
  const lo = ((signed ? -128 : 0) - z) * s, hi = ((signed ? 127 : 255) - z) * s;
  if (Math.abs(lo) > 1e-6 * Math.max(1, Math.abs(hi))) return 'linear';
  return Math.abs(hi - 6) < 0.06 ? 'relu6' : 'relu';
}

export const HANDLERS: Record<string, OnnxHandler> = {
  Identity: (c, n) => {
    if (n.op.endsWith('QuantizeLinear')) c.dequantized = true;
    return c.set(c.val(n.inputs[0]));
  },
  Dropout: (c, n) => HANDLERS.Identity(c, n),
  QuantizeLinear: (c, n) => HANDLERS.Identity(c, n),
  DequantizeLinear: (c, n) => HANDLERS.Identity(c, n),
  Cast: (c, n) => {
    const to = c.int('to', 1);
    if (to !== 1 && to !== 10 && to !== 11) c.fail(`cast of a computed value to type ${to} is not supported`);
    return c.set(c.val(n.inputs[0]));
  },
  Conv: (c, n) => {
    const fused = c.fusedActivation(n.outputs[0]);
    const y = c.conv(c.computed(0), c.constIn(1, 'the weight'), c.optConst(2), fused.act);
    c.set(y);
    return c.absorb(fused, y);
  },
  QLinearConv: (c) => {
    // x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B: float conv with dequantized weights; the int32 bias is scaled by x_scale * w_scale.
    c.dequantized = true;
    const xScale = scalarOf(c.constIn(1, 'x_scale'));
    const wScale = c.constIn(4, 'w_scale');
    const w = dequantize(c.constIn(3, 'w'), wScale, c.optConst(5), 0);
    const bq = c.optConst(8);
    const bias = bq && constOf(bq.dims, Array.from(bq.data, (v, ch) => v * xScale * (wScale.data.length === 1 ? wScale.data[0] : wScale.data[ch])));
    return c.set(c.conv(c.computed(0), w, bias, impliedActivation(c.constIn(6, 'y_scale'), c.optConst(7))));
  },
  BatchNormalization: (c, n) => {
    const x = c.computed(0);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => c.constIn(i, ['scale', 'B', 'mean', 'var'][i - 1]));
    const eps = c.float('epsilon', 1e-5);
    const a = Float32Array.from(scale.data, (g, c) => g / Math.sqrt(variance.data[c] + eps));
    const sh = Float32Array.from(bias.data, (v, c) => v - mean.data[c] * a[c]);
    const xs = c.front.shape(x);
    const input = xs.length === 4 ? c.front.toCl(x, n.name) : x;
    if (xs.length !== 4 && xs.length !== 2) c.fail(`batch norm of a rank-${xs.length} value is not supported`);
    const st = c.b.own(tf.tensor1d(a)), shT = c.b.own(tf.tensor1d(sh));
    return c.set(c.emit([input.ir], { op: 'affine', scale: st, shift: shT }, input.cl));
  },
  Relu: (c) => {
    return c.unary({ op: 'relu' });
  },
  LeakyRelu: (c) => {
    return c.unary({ op: 'leakyRelu', alpha: c.float('alpha', 0.01) });
  },
  Sigmoid: (c) => {
    return c.unary({ op: 'sigmoid' });
  },
  Tanh: (c) => {
    return c.unary({ op: 'tanh' });
  },
  HardSigmoid: (c) => {
    return c.unary({ op: 'hardSigmoid', alpha: c.float('alpha', 0.2), beta: c.float('beta', 0.5) });
  },
  HardSwish: (c) => {
    const x = c.computed(0);
    const gate = c.emit([x.ir], { op: 'hardSigmoid', alpha: 1 / 6, beta: 0.5 }, x.cl);
    return c.set(c.emit([x.ir, gate.ir], { op: 'mul' }, x.cl));
  },
  Clip: (c, n) => {
    const [lo, hi] = c.clipBounds(n);
    if (lo === 0 && hi === 6) return c.unary({ op: 'relu6' });
    if (lo === 0 && hi === Infinity) return c.unary({ op: 'relu' });
    return c.unary({ op: 'clip', min: lo, max: hi });
  },
  Add: (c, n) => {
    return c.set(c.elementwise(n.op.toLowerCase() as 'add', n.inputs.map((i) => c.val(i))));
  },
  Sub: (c, n) => HANDLERS.Add(c, n),
  Mul: (c, n) => HANDLERS.Add(c, n),
  Div: (c, n) => HANDLERS.Add(c, n),
  Sum: (c, n) => {
    return c.set(c.elementwise('add', n.inputs.map((i) => c.val(i))));
  },
  QLinearAdd: (c, n) => {
    // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp: a float add; constant operands dequantized.
    c.dequantized = true;
    const operand = (i: number): Val => {
      const v = c.val(n.inputs[i]);
      return v.kind === 'const' ? { kind: 'const', c: dequantize(v.c, c.constIn(i + 1, 'scale'), c.optConst(i + 2)) } : v;
    };
    return c.set(c.elementwise('add', [operand(0), operand(3)]));
  },
  MaxPool: (c, n) => {
    if (n.outputs.length > 1 && n.outputs[1] && c.uses.get(n.outputs[1])) c.fail('the Indices output is not supported');
    return c.pool('max');
  },
  AveragePool: (c) => {
    return c.pool('avg');
  },
  GlobalAveragePool: (c, n) => {
    if (n.op === 'QLinearGlobalAveragePool') {
      c.dequantized = true;
      if (c.int('channels_last', 0)) c.fail('channels_last = 1 is not supported');
    }
    const x = c.front.toCl(c.computed(0), n.name);
    return c.set(c.emit([x.ir], { op: 'mean', axes: [1, 2], keepDims: true }, true));
  },
  QLinearGlobalAveragePool: (c, n) => HANDLERS.GlobalAveragePool(c, n),
  ReduceMean: (c, n) => {
    const x = c.computed(0);
    const rank = c.front.shape(x).length;
    const axes = (c.intList('axes') ?? (n.inputs[1] ? ints(c.constIn(1, 'axes')) : Array.from({ length: rank }, (_, i) => i))).map((a) => (a < 0 ? a + rank : a));
    if (axes.includes(0)) c.fail('averaging over the batch axis is not supported');
    const keep = c.int('keepdims', 1) === 1;
    // Without keepdims the remaining axes keep their order only if C goes, or H and W both do.
    const src = x.cl && !keep && !(axes.includes(1) || (axes.includes(2) && axes.includes(3))) ? c.front.toPlain(x, n.name) : x;
    return c.set(c.emit([src.ir], { op: 'mean', axes: c.irAxes(src, axes), keepDims: keep }, src.cl && keep));
  },
  Gemm: (c, n) => {
    if (c.int('transA', 0)) c.fail('transA = 1 is not supported');
    const x = c.flat2(c.computed(0));
    const bm = c.constIn(1, 'B');
    const alpha = c.float('alpha', 1), beta = c.float('beta', 1);
    const tb = c.int('transB', 0) === 1;
    const [k, m] = tb ? [bm.dims[1], bm.dims[0]] : bm.dims;
    const kernel = new Float32Array(k * m);
    for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) kernel[i * m + j] = alpha * bm.data[tb ? j * k + i : i * m + j];
    const cc = c.optConst(2);
    if (cc && cc.data.length !== m && cc.data.length !== 1) c.fail(`bias of shape [${cc.dims}] is not supported`);
    const bias = cc && Float32Array.from({ length: m }, (_, j) => beta * cc.data[cc.data.length === 1 ? 0 : j]);
    const fused = c.fusedActivation(n.outputs[0]);
    const y = c.dense(x, kernel, k, m, bias, fused.act);
    c.set(y);
    return c.absorb(fused, y);
  },
  MatMul: (c, n) => {
    let bm: ConstTensor;
    if (n.op === 'QLinearMatMul') {
      c.dequantized = true;
      bm = dequantize(c.constIn(3, 'b'), c.constIn(4, 'b_scale'), c.optConst(5), 1);
    } else bm = c.constIn(1, 'the second operand');
    if (bm.dims.length !== 2) c.fail(`a rank-${bm.dims.length} constant operand is not supported`);
    const x = c.flat2(c.computed(0));
    return c.set(c.dense(x, Float32Array.from(bm.data), bm.dims[0], bm.dims[1], undefined, 'linear'));
  },
  QLinearMatMul: (c, n) => HANDLERS.MatMul(c, n),
  Flatten: (c) => {
    const axis = c.int('axis', 1);
    if (axis !== 1) c.fail(`Flatten axis ${axis}: only axis 1 (keep the batch) is supported`);
    const x = c.computed(0);
    const s = c.front.shape(x);
    return c.set(c.reshapeTo(x, [BATCH, s.slice(1).reduce((a, v) => a * v, 1)]));
  },
  Reshape: (c) => {
    const x = c.computed(0);
    const xs = c.front.shape(x);
    const allowZero = c.int('allowzero', 0) === 1;
    const target = ints(c.constIn(1, 'the shape')).map((v, i) => (v === 0 && !allowZero ? xs[i] : v));
    // Axis 0 must stay the batch: the folded batch, -1, or a fixed-batch export's 1.
    if (!(target[0] === BATCH || target[0] === -1 || target[0] === 1)) c.fail(`reshape to [${target}] does not keep the batch axis first`);
    if (target[0] === -1 && target.slice(1).includes(-1)) c.fail(`reshape to [${target}] has two unknown dimensions`);
    return c.set(c.reshapeTo(x, target));
  },
  Squeeze: (c, n) => {
    const x = c.computed(0);
    const xs = c.front.shape(x);
    const raw = c.intList('axes') ?? (n.inputs[1] ? ints(c.constIn(1, 'axes')) : undefined);
    let out: number[];
    if (n.op === 'Squeeze') {
      const axes = (raw ?? xs.map((d, i) => (d === 1 && i > 0 ? i : -1)).filter((i) => i > 0)).map((a) => (a < 0 ? a + xs.length : a));
      out = xs.filter((_, i) => !axes.includes(i));
    } else {
      const rank = xs.length + (raw ?? []).length;
      const axes = (raw ?? []).map((a) => (a < 0 ? a + rank : a));
      out = [];
      let j = 0;
      for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : xs[j++]);
    }
    if (out[0] !== BATCH) c.fail('squeezing or unsqueezing the batch axis is not supported');
    return c.set(c.reshapeTo(x, out));
  },
  Unsqueeze: (c, n) => HANDLERS.Squeeze(c, n),
  Transpose: (c, n) => {
    const x = c.front.toPlain(c.computed(0), n.name);
    const rank = c.front.shape(x).length;
    const perm = c.intList('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (perm[0] !== 0) c.fail(`perm [${perm}] moves the batch axis`);
    const y = c.emit([x.ir], { op: 'transpose', perm }, false);
    return c.set(rank === 4 ? c.front.toCl(y, n.name) : y);
  },
  Concat: (c, n) => {
    const vals = n.inputs.map((i) => c.val(i));
    if (vals.some((v) => v.kind === 'const')) c.fail('concatenating constants with computed values is not supported');
    const xs = vals as Computed[];
    const rank = c.front.shape(xs[0]).length;
    const axis0 = c.int('axis', 1);
    const axis = axis0 < 0 ? axis0 + rank : axis0;
    if (axis === 0) c.fail('concatenation along the batch axis is not supported');
    const cl = rank === 4;
    const names = xs.map((v) => (cl ? c.front.toCl(v, n.name) : c.front.toPlain(v, n.name)).ir);
    return c.set(c.emit(names, { op: 'concat', axis: cl ? NHWC_OF[axis] : axis }, cl));
  },
  Split: (c, n) => {
    const x = c.computed(0);
    const xs = c.front.shape(x);
    const axis0 = c.int('axis', 0);
    const axis = axis0 < 0 ? axis0 + xs.length : axis0;
    if (axis === 0) c.fail('splitting the batch axis is not supported');
    const sizes = c.intList('split') ?? (n.inputs[1] ? ints(c.constIn(1, 'split')) : new Array(n.outputs.length).fill(xs[axis] / n.outputs.length));
    let at = 0;
    sizes.forEach((sz, i) => {
      c.set(c.sliceOf(x, [axis], [at], [at + sz]), i);
      at += sz;
    });
    return;
  },
  Slice: (c, n) => {
    const x = c.computed(0);
    const xs = c.front.shape(x);
    const starts = c.intList('starts') ?? ints(c.constIn(1, 'starts'));
    const ends = c.intList('ends') ?? ints(c.constIn(2, 'ends'));
    const axes = (c.intList('axes') ?? (n.inputs[3] ? ints(c.constIn(3, 'axes')) : starts.map((_, i) => i))).map((a) => (a < 0 ? a + xs.length : a));
    const steps = n.inputs[4] ? ints(c.constIn(4, 'steps')) : [];
    if (steps.some((v) => v !== 1)) c.fail(`steps [${steps}] are not supported (only 1)`);
    const clamp = (v: number, d: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
    const keep = axes.map((a, i) => a === 0 && clamp(starts[i], BATCH) === 0 && ends[i] >= BATCH);
    if (axes.some((a, i) => a === 0 && !keep[i])) c.fail('slicing the batch axis is not supported');
    const ax = axes.filter((_, i) => !keep[i]);
    return c.set(c.sliceOf(x, ax, ax.map((a) => clamp(starts[axes.indexOf(a)], xs[a])), ax.map((a) => clamp(ends[axes.indexOf(a)], xs[a]))));
  },
  Pad: (c, n) => {
    const x = c.computed(0);
    const rank = c.front.shape(x).length;
    const mode = c.attr('mode') ?? 'constant';
    if (mode !== 'constant') c.fail(`mode ${mode} is not supported (only constant)`);
    const p = c.intList('pads') ?? ints(c.constIn(1, 'pads'));
    const value = n.inputs[2] ? scalarOf(c.constIn(2, 'constant_value')) : c.float('value', 0);
    if (n.inputs[3]) c.fail('the axes input is not supported');
    const pairs: Array<[number, number]> = Array.from({ length: rank }, (_, i) => [p[i], p[i + rank]]);
    if (pairs.some(([a, c]) => a < 0 || c < 0)) c.fail('negative pads are not supported');
    const irPairs = x.cl ? NHWC_OF.map((_, j) => pairs[NHWC_OF.indexOf(j)]) : pairs;
    return c.set(c.emit([x.ir], { op: 'pad', pads: irPairs, value }, x.cl));
  },
};
