/**
 * Exports a compiled network (src/models/net) to ONNX as ONE graph that computes, for a batch,
 * the logits and the input gradient of the attack objective, so that onnxruntime runs the whole
 * forward + backward pass with its own (native, multi-threaded) kernels.
 *
 * ONNX has no autodiff, so the backward half is written out here, op by op, in reverse: the
 * input gradient of a conv is a ConvTranspose with the same weights (depthwise: group = C),
 * activations mask by their saved output, max pooling scatters through MaxPool's indices,
 * average pooling is a ConvTranspose with a ones kernel, concat splits, add fans out.
 *
 * Inputs:  x [N, h, w, 3] (NHWC, model range and size), onehot [N, K], sign [N, 1], uselogit [N, 1].
 * Outputs: logits [N, K], dx [N, h, w, 3] = d/dx of sum_i sign_i * score_i, where score_i is
 *          log softmax(logits_i)[cls_i] (uselogit 0) or logits_i[cls_i] (uselogit 1).
 * The network runs in NCHW internally (ONNX's layout); shapes are static except the batch.
 */
import * as tf from '@tensorflow/tfjs';
import type { NetGraph } from '../net/program';
import type { ConvLayer, PoolLayer } from '../net/ops';
import { AttrValue, OnnxInitializer, OnnxModel, OnnxNode } from './proto';

export class ExportError extends Error {}

const OPSET = 17;

/** NHWC shape -> NCHW shape (rank 4); other ranks unchanged. */
const nchw = (s: number[]) => (s.length === 4 ? [s[0], s[3], s[1], s[2]] : s.slice());
/** An NHWC axis of a rank-4 value as an NCHW axis. */
const nchwAxis = (a: number, rank: number) => {
  const n = a < 0 ? a + rank : a;
  return rank === 4 ? [0, 2, 3, 1][n] : n;
};

class GraphWriter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private count = 0;

  fresh(base: string): string {
    return `${base}#${this.count++}`;
  }

  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1, base = op): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(base));
    this.nodes.push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  one(op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    return this.op(op, inputs, attrs)[0];
  }

  floats(dims: number[], data: Float32Array | number[], base = 'const'): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims, data: data instanceof Float32Array ? data : Float32Array.from(data) });
    return name;
  }

  int64s(values: number[], base = 'shape'): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  scalar(v: number): string {
    return this.floats([], [v], 'scalar');
  }
}

/** The tensor's data, synchronously (weights are small enough; export runs once at load). */
const read = (t: tf.Tensor) => t.dataSync() as Float32Array;

/** The data of t transposed by perm (the transposed tensor is freed). */
function readTransposed(t: tf.Tensor, perm: number[]): Float32Array {
  const tt = tf.transpose(t, perm);
  try {
    return read(tt);
  } finally {
    tt.dispose();
  }
}

/** Saved forward values a step's backward needs, by step index. */
interface Saved {
  y?: string;
  indices?: string;
  /** affine: its per-channel scale (the backward multiplies by it). */
  scale?: string;
}

export interface ExportOptions {
  /** Model input [height, width]; channels are 3. */
  inputSize: [number, number];
}

export function exportGradientGraph(graph: NetGraph, opts: ExportOptions): { model: OnnxModel; classes: number } {
  const [h, w] = opts.inputSize;
  const probe = tf.zeros([1, h, w, 3]) as tf.Tensor4D;
  const shapes = graph.shapes(probe);
  probe.dispose();
  const shapeOf = (name: string) => {
    const s = shapes.get(name);
    if (!s) throw new ExportError(`no shape recorded for ${name}`);
    return s;
  };
  const g = new GraphWriter();
  const value = new Map<string, string>(); // program value -> ONNX name (NCHW)
  const constName = new Map<string, string>();
  const isConst = (name: string) => graph.consts.has(name);
  const input = (name: string, rankOfUser: number): string => {
    const v = value.get(name);
    if (v) return v;
    const c = graph.consts.get(name);
    if (!c) throw new ExportError(`value ${name} is read before it is computed`);
    // Constants broadcast against NCHW values: per-channel [C] -> [1, C, 1, 1].
    let cn = constName.get(name);
    if (!cn) {
      if (c.rank > 1 && !(c.rank === rankOfUser && rankOfUser === 2)) throw new ExportError(`constant ${name} of shape [${c.shape}] cannot be laid out for NCHW`);
      const dims = c.rank === 0 ? [] : rankOfUser === 4 ? [1, c.shape[0], 1, 1] : c.shape.slice();
      cn = g.floats(dims, read(c), 'c');
      constName.set(name, cn);
    }
    return cn;
  };

  const xIn = 'x', onehot = 'onehot', sign = 'sign', uselogit = 'uselogit';
  value.set(graph.input, g.one('Transpose', [xIn], { perm: [0, 3, 1, 2] }));

  const saved: Saved[] = [];
  const weights = new Map<ConvLayer, string>();
  graph.steps.forEach((s, i) => {
    if (!s.desc) throw new ExportError(`step ${s.name} has no exportable description`);
    const outShape = shapeOf(s.out);
    const ins = s.inputs.map((k) => input(k, outShape.length));
    const d = s.desc;
    const sv: Saved = {};
    let y: string;
    switch (d.op) {
      case 'conv': {
        const { name: wName, attrs } = convParts(g, d.layer, shapeOf(s.inputs[0]), weights);
        const bias = d.layer.bias ? [g.floats([d.layer.bias.shape[0]], read(d.layer.bias), 'b')] : [];
        y = g.one('Conv', [ins[0], wName, ...bias], attrs);
        y = activation(g, y, d.layer.activation);
        sv.y = y;
        break;
      }
      case 'dense': {
        if (shapeOf(s.inputs[0]).length !== 2) throw new ExportError(`dense step ${s.name} has a rank-${shapeOf(s.inputs[0]).length} input`);
        const [k, u] = d.layer.kernel.shape;
        const kern = g.floats([k, u], read(d.layer.kernel), 'w');
        y = g.one('MatMul', [ins[0], kern]);
        if (d.layer.bias) y = g.one('Add', [y, g.floats([u], read(d.layer.bias), 'b')]);
        y = activation(g, y, d.layer.activation);
        sv.y = y;
        break;
      }
      case 'pool': {
        const attrs = poolAttrs(d.layer, shapeOf(s.inputs[0]));
        if (d.layer.kind === 'max') {
          [y, sv.indices] = g.op('MaxPool', [ins[0]], attrs, 2);
        } else {
          y = g.one('AveragePool', [ins[0]], { ...attrs, count_include_pad: 0 });
        }
        break;
      }
      case 'relu':
        sv.y = y = g.one('Relu', ins);
        break;
      case 'relu6':
        sv.y = y = g.one('Clip', [ins[0], g.scalar(0), g.scalar(6)]);
        break;
      case 'leakyRelu':
        y = g.one('LeakyRelu', ins, { alpha: { float: d.alpha } });
        break;
      case 'add':
        y = ins.length === 1 ? ins[0] : g.one('Sum', ins);
        break;
      case 'sub':
        y = g.one('Sub', ins);
        break;
      case 'mul':
        if (s.inputs.filter((k) => !isConst(k)).length !== 1) throw new ExportError(`mul step ${s.name} multiplies computed values`);
        y = ins.slice(1).reduce((a, b) => g.one('Mul', [a, b]), ins[0]);
        break;
      case 'affine': {
        const dims = outShape.length === 4 ? [1, outShape[3], 1, 1] : [1, outShape[outShape.length - 1]];
        if (outShape.length !== 4 && outShape.length !== 2) throw new ExportError(`affine step ${s.name} on rank ${outShape.length}`);
        const scale = g.floats(dims, read(d.scale), 'scale');
        sv.scale = scale;
        y = g.one('Add', [g.one('Mul', [ins[0], scale]), g.floats(dims, read(d.shift), 'shift')]);
        break;
      }
      case 'concat':
        y = g.one('Concat', ins, { axis: nchwAxis(d.axis, outShape.length) });
        break;
      case 'mean': {
        const inShape = shapeOf(s.inputs[0]);
        const axes = d.axes.map((a) => (a < 0 ? a + inShape.length : a)).sort();
        if (inShape.length !== 4 || axes.join() !== '1,2') throw new ExportError(`mean step ${s.name} over axes [${d.axes}] of rank ${inShape.length}: only spatial means are exported`);
        y = g.one('ReduceMean', [ins[0]], { axes: [2, 3], keepdims: d.keepDims ? 1 : 0 });
        break;
      }
      case 'pad': {
        const inShape = shapeOf(s.inputs[0]);
        if (inShape.length !== 4 || d.pads[0].some((p) => p) || d.pads[3].some((p) => p)) throw new ExportError(`pad step ${s.name}: only spatial padding of NHWC values is exported`);
        const [[t, b], [l, r]] = [d.pads[1], d.pads[2]];
        y = g.one('Pad', [ins[0], g.int64s([0, 0, t, l, 0, 0, b, r]), g.scalar(d.value)], { mode: 'constant' });
        break;
      }
      case 'reshape': {
        const inShape = shapeOf(s.inputs[0]);
        if (inShape.join() === outShape.join()) y = ins[0];
        else if (inShape.length === 4 && inShape[1] === 1 && inShape[2] === 1 && outShape.length === 2) y = g.one('Flatten', [ins[0]], { axis: 1 });
        // A flatten in NHWC order: back to NHWC first.
        else if (inShape.length === 4 && outShape.length === 2) y = g.one('Flatten', [g.one('Transpose', [ins[0]], { perm: [0, 2, 3, 1] })], { axis: 1 });
        // [N, C] -> [N, 1, 1, C] (Keras heads reshape before a 1x1 conv): [N, C, 1, 1] in NCHW.
        else if (inShape.length === 2 && outShape.length === 4 && outShape[1] === 1 && outShape[2] === 1) y = g.one('Reshape', [ins[0], g.int64s([-1, outShape[3], 1, 1])]);
        else throw new ExportError(`reshape step ${s.name} [${inShape}] -> [${outShape}] reorders data between NHWC and NCHW`);
        break;
      }
    }
    value.set(s.out, y);
    saved[i] = sv;
  });

  const outShape = shapeOf(graph.output);
  let logits = value.get(graph.output)!;
  if (outShape.length === 4) logits = g.one('Flatten', [logits], { axis: 1 });
  else if (outShape.length !== 2) throw new ExportError(`network output has shape [${outShape}]`);
  const classes = outShape.slice(1).reduce((a: number, b: number) => a * b, 1);
  const logitsOut = 'logits';
  g.nodes.push({ op: 'Identity', inputs: [logits], outputs: [logitsOut] });

  // d objective / d logits = sign * (onehot - (1 - uselogit) * softmax(logits)).
  const p = g.one('Softmax', [logits], { axis: 1 });
  const ce = g.one('Mul', [g.one('Sub', [g.scalar(1), uselogit]), p]);
  let seed = g.one('Mul', [sign, g.one('Sub', [onehot, ce])]);
  if (outShape.length === 4) seed = g.one('Reshape', [seed, g.int64s([-1, ...nchw(outShape).slice(1)])]);

  // Reverse sweep: every value's gradient is the sum of what its readers send back.
  const grads = new Map<string, string[]>([[graph.output, [seed]]]);
  const send = (name: string, gr: string) => {
    if (isConst(name)) return;
    const list = grads.get(name) ?? [];
    list.push(gr);
    grads.set(name, list);
  };
  const gradOf = (name: string): string | undefined => {
    const list = grads.get(name);
    if (!list) return undefined;
    return list.length === 1 ? list[0] : g.one('Sum', list);
  };
  for (let i = graph.steps.length - 1; i >= 0; i--) {
    const s = graph.steps[i];
    const dy = gradOf(s.out);
    if (!dy) continue;
    const d = s.desc!;
    const sv = saved[i];
    const x0 = s.inputs[0];
    const inShape = shapeOf(x0);
    switch (d.op) {
      case 'conv': {
        const masked = mask(g, dy, sv.y!, d.layer.activation);
        const { name: wName, attrs, outputPadding } = convParts(g, d.layer, inShape, weights);
        send(x0, g.one('ConvTranspose', [masked, wName], { ...attrs, output_padding: outputPadding }));
        break;
      }
      case 'dense': {
        const [k, u] = d.layer.kernel.shape;
        const kt = g.floats([u, k], readTransposed(d.layer.kernel, [1, 0]), 'wT');
        send(x0, g.one('MatMul', [mask(g, dy, sv.y!, d.layer.activation), kt]));
        break;
      }
      case 'pool':
        send(x0, d.layer.kind === 'max' ? maxPoolGrad(g, dy, sv.indices!, value.get(x0)!) : avgPoolGrad(g, dy, d.layer, inShape, shapeOf(s.out)));
        break;
      case 'relu':
        send(x0, mask(g, dy, sv.y!, 'relu'));
        break;
      case 'relu6':
        send(x0, mask(g, dy, sv.y!, 'relu6'));
        break;
      case 'leakyRelu': {
        // Slope 1 where the input is positive, alpha elsewhere (the input is still in `value`).
        const pos = g.one('Greater', [value.get(x0)!, g.scalar(0)]);
        send(x0, g.one('Where', [pos, dy, g.one('Mul', [dy, g.scalar(d.alpha)])]));
        break;
      }
      case 'add':
        for (const k of s.inputs) {
          if (isConst(k)) continue;
          if (shapeOf(k).join() !== shapeOf(s.out).join()) throw new ExportError(`add step ${s.name} broadcasts a computed value`);
          send(k, dy);
        }
        break;
      case 'sub':
        s.inputs.forEach((k, j) => {
          if (isConst(k)) return;
          if (shapeOf(k).join() !== shapeOf(s.out).join()) throw new ExportError(`sub step ${s.name} broadcasts a computed value`);
          send(k, j === 0 ? dy : g.one('Neg', [dy]));
        });
        break;
      case 'mul': {
        const k = s.inputs.find((v) => !isConst(v))!;
        if (shapeOf(k).join() !== shapeOf(s.out).join()) throw new ExportError(`mul step ${s.name} broadcasts a computed value`);
        const factors = s.inputs.filter((v) => isConst(v)).map((v) => input(v, shapeOf(s.out).length));
        send(k, factors.reduce((a, b) => g.one('Mul', [a, b]), dy));
        break;
      }
      case 'affine':
        send(x0, g.one('Mul', [dy, sv.scale!]));
        break;
      case 'concat': {
        const rank = shapeOf(s.out).length;
        const a = d.axis < 0 ? d.axis + rank : d.axis;
        const sizes = s.inputs.map((k) => shapeOf(k)[a]);
        const parts = g.op('Split', [dy, g.int64s(sizes)], { axis: nchwAxis(d.axis, rank) }, sizes.length);
        s.inputs.forEach((k, j) => send(k, parts[j]));
        break;
      }
      case 'mean': {
        const [, hh, ww, c] = inShape;
        const full = d.keepDims ? dy : g.one('Reshape', [dy, g.int64s([-1, c, 1, 1])]);
        const spread = g.one('Expand', [full, g.one('Shape', [value.get(x0)!])]);
        send(x0, g.one('Mul', [spread, g.scalar(1 / (hh * ww))]));
        break;
      }
      case 'pad': {
        const [t, l] = [d.pads[1][0], d.pads[2][0]];
        send(x0, g.one('Slice', [dy, g.int64s([t, l]), g.int64s([t + inShape[1], l + inShape[2]]), g.int64s([2, 3])]));
        break;
      }
      case 'reshape': {
        const outS = shapeOf(s.out);
        if (inShape.join() === outS.join()) send(x0, dy);
        else if (inShape.length === 2) send(x0, g.one('Flatten', [dy], { axis: 1 }));
        else if (inShape[1] === 1 && inShape[2] === 1) send(x0, g.one('Reshape', [dy, g.int64s([-1, ...nchw(inShape).slice(1)])]));
        else send(x0, g.one('Transpose', [g.one('Reshape', [dy, g.int64s([-1, ...inShape.slice(1)])])], { perm: [0, 3, 1, 2] }));
        break;
      }
    }
  }
  const dIn = gradOf(graph.input);
  if (!dIn) throw new ExportError('the output does not depend on the input');
  g.nodes.push({ op: 'Transpose', inputs: [dIn], outputs: ['dx'], attrs: { perm: [0, 2, 3, 1] } });

  return {
    classes,
    model: {
      opset: OPSET,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [
        { name: xIn, dims: [null, h, w, 3] },
        { name: onehot, dims: [null, classes] },
        { name: sign, dims: [null, 1] },
        { name: uselogit, dims: [null, 1] },
      ],
      outputs: [
        { name: logitsOut, dims: [null, classes] },
        { name: 'dx', dims: [null, h, w, 3] },
      ],
    },
  };
}

function activation(g: GraphWriter, y: string, a: ConvLayer['activation']): string {
  if (a === 'relu') return g.one('Relu', [y]);
  if (a === 'relu6') return g.one('Clip', [y, g.scalar(0), g.scalar(6)]);
  return y;
}

/** dy where the activation's output y is in its linear region, else 0. */
function mask(g: GraphWriter, dy: string, y: string, a: ConvLayer['activation']): string {
  if (a === 'linear') return dy;
  const zero = g.scalar(0);
  let on = g.one('Greater', [y, zero]);
  if (a === 'relu6') on = g.one('And', [on, g.one('Less', [y, g.scalar(6)])]);
  return g.one('Where', [on, dy, zero]);
}

/** Weights (shared by the Conv and its ConvTranspose) and attributes of a conv layer on an NHWC input shape. */
function convParts(g: GraphWriter, l: ConvLayer, xShape: number[], cache: Map<ConvLayer, string>) {
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
  let name = cache.get(l);
  if (!name) {
    // tfjs [kh, kw, ci, co] -> ONNX [co, ci, kh, kw]; depthwise [kh, kw, C, M] -> [C*M, 1, kh, kw] (channel c*M + m).
    const data = readTransposed(l.filter, l.depthwise ? [2, 3, 0, 1] : [3, 2, 0, 1]);
    name = g.floats(l.depthwise ? [ci * co, 1, kh, kw] : [co, ci, kh, kw], data, 'w');
    cache.set(l, name);
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

function poolAttrs(l: PoolLayer, xShape: number[]) {
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], l.size, l.strides, 1, l.pad);
  const { top, bottom, left, right } = info.padInfo;
  return { kernel_shape: [...l.size], strides: [...l.strides], pads: [top, left, bottom, right] };
}

/** Scatter-add dy into the input positions MaxPool's indices name (flat over N, C, H, W). */
function maxPoolGrad(g: GraphWriter, dy: string, indices: string, x: string): string {
  const flat = g.int64s([-1]);
  const xShape = g.one('Shape', [x]);
  const zeros = g.one('Reshape', [g.one('ConstantOfShape', [xShape]), flat]);
  const scattered = g.one('ScatterElements', [zeros, g.one('Reshape', [indices, flat]), g.one('Reshape', [dy, flat])], { axis: 0, reduction: 'add' });
  return g.one('Reshape', [scattered, xShape]);
}

/** Average pooling's gradient: dy / count, spread back by a ones-kernel ConvTranspose per channel. */
function avgPoolGrad(g: GraphWriter, dy: string, l: PoolLayer, xShape: number[], yShape: number[]): string {
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
  const scaled = g.one('Mul', [dy, g.floats([1, 1, oh, ow], inv, 'invcount')]);
  const ones = g.floats([c, 1, kh, kw], new Float32Array(c * kh * kw).fill(1), 'ones');
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

