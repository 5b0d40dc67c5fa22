/**
 * The ONNX front end's walk over a graph (see ./compile.ts): values, constant folding, layout,
 * and the helpers the operator table (./handlers.ts) builds steps with.
 */
import * as tf from '@tensorflow/tfjs';
import type { Attr, ConstTensor, OnnxGraphIn, OnnxNodeIn } from '../../onnx/read';
import type { StepDesc } from '../ir';
import type { FusedActivation } from '../ops';
import type { OutputHead, ProgramBuilder } from '../program';
import { BATCH, FOLDERS, constOf, scalarOf } from './fold';
import type { OnnxHandler } from './handlers';
import { FrontValues, NHWC_OF, UnsupportedError, type Val } from './values';

export type Computed = Val & { kind: 'value' };

export interface OnnxCompileOptions {
  /** Names the model file in error messages. */
  file: string;
  /** [height, width] of the input (the file may leave it symbolic). */
  inputSize: [number, number];
  /** Layout of the file's input: NCHW (PyTorch's) or NHWC. */
  layout: 'NCHW' | 'NHWC';
  head?: OutputHead;
}

const ACT_OPS = new Set(['Relu', 'Clip']);

/** Walks an ONNX graph in order, folding constants and handing computed nodes to the operator table. */
export class OnnxCompiler {
  readonly vals = new Map<string, Val>();
  readonly uses = new Map<string, number>();
  private readonly producer = new Map<string, OnnxNodeIn>();
  private readonly readers = new Map<string, OnnxNodeIn[]>();
  readonly skip = new Set<OnnxNodeIn>();
  dequantized = false;
  node!: OnnxNodeIn;

  constructor(
    readonly g: OnnxGraphIn,
    readonly b: ProgramBuilder,
    readonly front: FrontValues,
    readonly opts: OnnxCompileOptions,
    private readonly handlers: Record<string, OnnxHandler>,
  ) {}

  fail(msg: string): never {
    throw new UnsupportedError(`${this.opts.file}: node ${this.node.name} (${this.node.op}): ${msg}`);
  }

  attr(name: string): Attr | undefined {
    return this.node.attrs.get(name);
  }
  int(name: string, dflt: number): number {
    const v = this.attr(name);
    return typeof v === 'number' ? v : dflt;
  }
  float(name: string, dflt: number): number {
    const v = this.attr(name);
    return typeof v === 'number' ? v : dflt;
  }
  intList(name: string): number[] | undefined {
    const v = this.attr(name);
    return Array.isArray(v) ? (v as number[]) : undefined;
  }

  val(name: string): Val {
    const v = this.vals.get(name);
    if (!v) this.fail(`input ${name} is not produced by any node before it`);
    return v;
  }
  constIn(i: number, what: string): ConstTensor {
    const name = this.node.inputs[i];
    const v = name ? this.vals.get(name) : undefined;
    if (!v || v.kind !== 'const') this.fail(`${what} (input ${i}) must be a constant`);
    return v.c;
  }
  optConst(i: number): ConstTensor | undefined {
    const name = this.node.inputs[i];
    if (!name) return undefined;
    const v = this.val(name);
    if (v.kind !== 'const') this.fail(`input ${i} must be a constant`);
    return v.c;
  }
  computed(i: number): Computed {
    const v = this.val(this.node.inputs[i]);
    if (v.kind !== 'value') this.fail(`input ${i} is a constant where a computed value is expected`);
    return v;
  }
  set(v: Val, index = 0): void {
    this.vals.set(this.node.outputs[index], v);
  }
  emit(inputs: string[], desc: StepDesc, cl: boolean): Computed {
    return this.front.emit(this.node.name, inputs, desc, cl) as Computed;
  }

  run(): { output: string; endsInSoftmax: boolean; dequantized: boolean } {
    const { g, opts } = this;
    if (g.inputs.length !== 1) throw new UnsupportedError(`${opts.file}: the model has ${g.inputs.length} inputs; only single-input classifiers are supported`);
    if (g.outputs.length < 1) throw new UnsupportedError(`${opts.file}: the model has no output`);
    const [h, w] = opts.inputSize;
    const dims = g.inputs[0].dims;
    const expect = opts.layout === 'NCHW' ? [null, 3, h, w] : [null, h, w, 3];
    if (dims.length !== 4 || dims.some((d, i) => i > 0 && d !== null && d !== expect[i])) {
      throw new UnsupportedError(`${opts.file}: input ${g.inputs[0].name} has shape [${dims.map((d) => d ?? '?').join(', ')}], but the description says ${opts.layout} [N, ${expect.slice(1).join(', ')}] (fields inputSize and layout)`);
    }
    for (const [name, c] of g.initializers) this.vals.set(name, { kind: 'const', c });
    const probe = tf.zeros([1, h, w, 3]);
    this.front.input('input', probe);
    if (opts.layout === 'NCHW') this.vals.set(g.inputs[0].name, { kind: 'value', ir: 'input', cl: true });
    else this.vals.set(g.inputs[0].name, { kind: 'value', ir: 'input', cl: false });
    for (const n of g.nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        this.uses.set(i, (this.uses.get(i) ?? 0) + 1);
        this.readers.set(i, [...(this.readers.get(i) ?? []), n]);
      }
      for (const o of n.outputs) this.producer.set(o, n);
    }
    for (const o of g.outputs) this.uses.set(o, (this.uses.get(o) ?? 0) + 1);

    // A final Softmax / LogSoftmax is stripped: the IR program returns logits.
    let outName = g.outputs[0];
    let endsInSoftmax = false;
    for (;;) {
      const p = this.producer.get(outName);
      if (!p) break;
      if (p.op === 'Identity' || (p.op === 'Softmax' && !endsInSoftmax) || (p.op === 'LogSoftmax' && !endsInSoftmax) || p.op === 'DequantizeLinear') {
        if (p.op === 'Softmax' || p.op === 'LogSoftmax') endsInSoftmax = true;
        this.skip.add(p);
        outName = p.inputs[0];
        continue;
      }
      break;
    }

    for (const n of g.nodes) {
      if (this.skip.has(n)) continue;
      this.node = n;
      this.visit(n);
    }
    const out = this.vals.get(outName);
    if (!out || out.kind !== 'value') throw new UnsupportedError(`${opts.file}: the output ${outName} does not depend on the input`);
    let v: Computed = out;
    const s = this.front.shape(v);
    const classes = s.slice(1).reduce((a, x) => a * x, 1);
    if (s.length !== 2 && !(s.slice(2).every((d) => d === 1))) throw new UnsupportedError(`${opts.file}: the output has shape [N, ${s.slice(1)}]; a classifier outputs [N, classes]`);
    if (s.length !== 2) {
      this.node = { op: 'Output', name: 'output', domain: '', inputs: [], outputs: [], attrs: new Map() };
      v = this.front.emit('output', [this.front.toPlain(v, 'output').ir], { op: 'reshape', rest: [classes] }, false) as Computed;
    }
    return { output: v.ir, endsInSoftmax, dequantized: this.dequantized };
  }

  private visit(n: OnnxNodeIn): void {
    if (n.domain && n.domain !== 'ai.onnx' && n.domain !== 'com.microsoft') this.fail(`operator domain ${n.domain} is not supported`);
    const ins = n.inputs.map((i) => (i ? this.vals.get(i) : undefined));
    const fold = FOLDERS[n.op];
    const allConst = n.inputs.every((i, k) => !i || ins[k]?.kind === 'const');
    if (n.op === 'Shape') {
      const v = this.val(n.inputs[0]);
      let dims = this.front.shape(v);
      const start = this.int('start', 0), end = this.attr('end');
      dims = dims.slice(start, typeof end === 'number' ? end : undefined);
      return this.set({ kind: 'const', c: constOf([dims.length], dims, 7) });
    }
    if (fold && allConst) {
      let outs: ConstTensor[];
      try {
        outs = fold(ins.map((v) => (v && v.kind === 'const' ? v.c : undefined)), (k) => this.attr(k), this.g.opset);
      } catch (err) {
        this.fail((err as Error).message);
      }
      outs.forEach((c, i) => this.set({ kind: 'const', c }, i));
      if (n.op === 'DequantizeLinear') this.dequantized = true;
      return;
    }
    const handler = this.handlers[n.op];
    if (!handler) this.fail(`operator ${n.op} is not supported`);
    handler(this, n);
  }

  // ---- handlers (called with this.node set) ----

  /** Relu / Clip(0, 6) right after a conv or dense, read only by it: fused into the layer. */
  fusedActivation(out: string): { act: FusedActivation; node?: OnnxNodeIn } {
    if (this.uses.get(out) !== 1) return { act: 'linear' };
    const next = this.readers.get(out)?.[0];
    if (!next || next.inputs[0] !== out || !ACT_OPS.has(next.op)) return { act: 'linear' };
    if (next.op === 'Relu') return { act: 'relu', node: next };
    const [lo, hi] = this.clipBounds(next);
    if (lo === 0 && hi === 6) return { act: 'relu6', node: next };
    if (lo === 0 && hi === Infinity) return { act: 'relu', node: next };
    return { act: 'linear' };
  }

  clipBounds(n: OnnxNodeIn): [number, number] {
    const get = (i: number, attr: string, dflt: number) => {
      const name = n.inputs[i];
      if (name) {
        const v = this.vals.get(name);
        if (v?.kind === 'const') return scalarOf(v.c);
        if (v) throw new UnsupportedError(`${this.opts.file}: node ${n.name} (Clip): computed bounds are not supported`);
      }
      const a = n.attrs.get(attr);
      return typeof a === 'number' ? a : dflt;
    };
    return [get(1, 'min', -Infinity), get(2, 'max', Infinity)];
  }

  /** Conv / QLinearConv weights [M, C/g, kh, kw] as a program conv (or grouped convs). */
  conv(x: Computed, w: ConstTensor, bias: ConstTensor | undefined, act: FusedActivation): Computed {
    const n = this.node;
    const xs = this.front.shape(x);
    if (w.dims.length !== 4) this.fail(`only 2-D convolutions are supported (weight shape [${w.dims}])`);
    const [m, cg, kh, kw] = w.dims;
    const group = this.int('group', 1);
    const c = xs[1];
    if (cg * group !== c) this.fail(`weight [${w.dims}] with group ${group} does not match ${c} input channels`);
    const strides = (this.intList('strides') ?? [1, 1]) as [number, number];
    const dilations = (this.intList('dilations') ?? [1, 1]) as [number, number];
    const pad = this.convPad(xs, [kh, kw], strides, dilations);
    const xcl = this.front.toCl(x, n.name);
    const biasT = bias ? tf.tensor1d(Float32Array.from(bias.data)) : undefined;
    const wT = tf.tensor4d(Float32Array.from(w.data), [m, cg, kh, kw]);
    try {
      if (group === 1) {
        const filter = tf.transpose(wT, [2, 3, 1, 0]) as tf.Tensor4D;
        const layer = this.b.conv({ depthwise: false, filter, bias: biasT && tf.clone(biasT), strides, pad, dilations, activation: act });
        return this.emit([xcl.ir], { op: 'conv', layer }, true);
      }
      if (cg === 1) {
        // Depthwise: output channel c*mult + k reads input channel c; tfjs filter [kh, kw, C, mult].
        const mult = m / c;
        const filter = tf.tidy(() => tf.transpose(tf.reshape(wT, [c, mult, kh, kw]), [2, 3, 0, 1])) as tf.Tensor4D;
        const layer = this.b.conv({ depthwise: true, filter, bias: biasT && tf.clone(biasT), strides, pad, dilations, activation: act });
        return this.emit([xcl.ir], { op: 'conv', layer }, true);
      }
      // Grouped: one conv per group on its slice of the channels, then concat.
      const per = m / group;
      const [, hh, ww] = this.front.irShape(xcl);
      const parts = Array.from({ length: group }, (_, k) => {
        const sl = this.emit([xcl.ir], { op: 'slice', begin: [0, 0, 0, k * cg], size: [-1, hh, ww, cg] }, true);
        const filter = tf.tidy(() => tf.transpose(tf.slice(wT, [k * per, 0, 0, 0], [per, cg, kh, kw]), [2, 3, 1, 0])) as tf.Tensor4D;
        const bk = biasT ? tf.slice(biasT, [k * per], [per]) : undefined;
        const layer = this.b.conv({ depthwise: false, filter, bias: bk, strides, pad, dilations, activation: act });
        return this.emit([sl.ir], { op: 'conv', layer }, true).ir;
      });
      return this.emit(parts, { op: 'concat', axis: 3 }, true);
    } finally {
      wT.dispose();
      biasT?.dispose();
    }
  }

  /** ONNX conv padding (pads or auto_pad) as the program's conv padding. */
  convPad(xs: number[], k: [number, number], s: [number, number], d: [number, number]): 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] {
    const auto = this.attr('auto_pad');
    if (auto === 'SAME_UPPER') return 'same';
    if (auto === 'VALID') return 'valid';
    let pads = this.intList('pads') ?? [0, 0, 0, 0];
    if (auto === 'SAME_LOWER') {
      pads = [0, 1].map((i) => {
        const out = Math.ceil(xs[2 + i] / s[i]);
        return Math.max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - xs[2 + i]);
      }).flatMap((total) => [Math.ceil(total / 2), Math.floor(total / 2)]);
      pads = [pads[0], pads[2], pads[1], pads[3]];
    }
    if (pads.length !== 4) this.fail(`pads [${pads}] are not 2-D`);
    const [t, l, bo, r] = pads;
    if (!t && !l && !bo && !r) return 'valid';
    return [[0, 0], [t, bo], [l, r], [0, 0]];
  }

  /** Skips a fused activation node and maps its output to the layer's. */
  absorb(fused: { node?: OnnxNodeIn }, y: Computed): void {
    if (fused.node) {
      this.skip.add(fused.node);
      this.vals.set(fused.node.outputs[0], y);
    }
  }

  /** x @ W + b for a rank-2 x and a constant [K, M] W (given as data + dims). */
  dense(x: Computed, kernel: Float32Array, k: number, m: number, bias: Float32Array | undefined, act: FusedActivation): Computed {
    const xs = this.front.shape(x);
    if (xs.length !== 2 || xs[1] !== k) this.fail(`expects [N, ${k}] input, got [${xs}]`);
    const layer = this.b.dense(tf.tensor2d(kernel, [k, m]), bias && tf.tensor1d(bias), act);
    return this.emit([x.ir], { op: 'dense', layer }, false);
  }

  /** Elementwise op over computed and constant inputs with numpy broadcasting. */
  elementwise(op: 'add' | 'sub' | 'mul' | 'div', inputs: Val[]): Computed {
    const shapes = inputs.map((v) => this.front.shape(v));
    const rank = Math.max(...shapes.map((s) => s.length));
    const computed = inputs.filter((v): v is Computed => v.kind === 'value');
    // Channels-last when a rank-4 computed operand is: every rank-4 computed operand becomes cl.
    const cl = rank === 4 && computed.some((v) => v.cl || this.front.shape(v).length === 4);
    const names = inputs.map((v) => {
      if (v.kind === 'const') return this.front.constant(v.c, cl, rank);
      if (cl && this.front.shape(v).length !== 4) this.fail(`broadcasts a rank-${this.front.shape(v).length} value against rank 4`);
      return cl ? this.front.toCl(v, this.node.name).ir : v.ir;
    });
    return this.emit(names, { op }, cl);
  }

  /** One-input activation step, in whatever layout the input has. */
  unary(desc: StepDesc): void {
    const x = this.computed(0);
    this.set(this.emit([x.ir], desc, x.cl));
  }

  /** Reshape to an ONNX shape whose axis 0 is the batch. */
  reshapeTo(x: Computed, target: number[]): Computed {
    const rest = target.slice(1);
    if (rest.some((d) => d === BATCH || d < -1)) this.fail(`reshape to [${target}] merges the batch axis`);
    const plain = this.front.toPlain(x, this.node.name);
    const y = this.emit([plain.ir], { op: 'reshape', rest }, false);
    return rest.length === 3 ? this.front.toCl(y, this.node.name) : y;
  }

  /** Pooling with explicit ONNX pads (and ceil_mode) in terms of the program's pad + pool. */
  pool(kind: 'max' | 'avg'): void {
    const x = this.front.toCl(this.computed(0), this.node.name);
    const xs = this.front.shape(x);
    const k = this.intList('kernel_shape') as [number, number];
    if (!k || k.length !== 2) this.fail('only 2-D pooling is supported');
    const s = (this.intList('strides') ?? [1, 1]) as [number, number];
    if ((this.intList('dilations') ?? [1, 1]).some((d) => d !== 1)) this.fail('dilated pooling is not supported');
    const auto = this.attr('auto_pad');
    if (auto === 'SAME_UPPER' && (kind === 'max' || this.int('count_include_pad', 0) === 0)) {
      return this.set(this.emit([x.ir], { op: 'pool', layer: this.b.pool(kind, k, s, 'same') }, true));
    }
    if (auto && auto !== 'NOTSET' && auto !== 'VALID') this.fail(`auto_pad ${auto} is not supported`);
    const [t, l, bo, r] = auto === 'VALID' ? [0, 0, 0, 0] : this.intList('pads') ?? [0, 0, 0, 0];
    // ceil_mode: extra rows/cols at the end so the last partial window counts; a window that
    // would start in the end padding is dropped (PyTorch's rule).
    const extra = [0, 1].map((i) => {
      const inn = xs[2 + i] + (i ? l + r : t + bo);
      let out = this.int('ceil_mode', 0) ? Math.ceil((inn - k[i]) / s[i]) + 1 : Math.floor((inn - k[i]) / s[i]) + 1;
      if (this.int('ceil_mode', 0) && (out - 1) * s[i] >= xs[2 + i] + (i ? l : t)) out--;
      return Math.max(0, (out - 1) * s[i] + k[i] - inn);
    });
    const pads: Array<[number, number]> = [[0, 0], [t, bo + extra[0]], [l, r + extra[1]], [0, 0]];
    const padded = pads.some(([a, c]) => a || c);
    if (kind === 'avg' && padded) {
      const includePad = this.int('count_include_pad', 0) === 1;
      if (!includePad || extra.some((e) => e)) {
        // count_include_pad = 0 matches tfjs 'same' windows when the pads are TF's SAME pads.
        const same = [0, 1].map((i) => Math.max(0, (Math.ceil(xs[2 + i] / s[i]) - 1) * s[i] + k[i] - xs[2 + i]));
        if (!includePad && !extra.some((e) => e) && t === Math.floor(same[0] / 2) && bo === same[0] - t && l === Math.floor(same[1] / 2) && r === same[1] - l) {
          return this.set(this.emit([x.ir], { op: 'pool', layer: this.b.pool('avg', k, s, 'same') }, true));
        }
        this.fail(`average pooling with pads [${[t, l, bo, r]}], count_include_pad ${includePad ? 1 : 0} and ceil_mode ${this.int('ceil_mode', 0)} is not supported`);
      }
    }
    // Max pooling pads with a huge negative number (never a window's max); average (count_include_pad) with zeros.
    const src = padded ? this.emit([x.ir], { op: 'pad', pads, value: kind === 'max' ? -3e38 : 0 }, true) : x;
    this.set(this.emit([src.ir], { op: 'pool', layer: this.b.pool(kind, k, s, 'valid') }, true));
  }

  /** Axes of an ONNX op on value x (NCHW numbering) as IR axes. */
  irAxes(x: Computed, axes: number[]): number[] {
    const rank = this.front.shape(x).length;
    return axes.map((a) => (a < 0 ? a + rank : a)).map((a) => (x.cl ? NHWC_OF[a] : a));
  }


  /** A rank-2 value from [N, K] or [N, K, 1, 1] (Gemm/MatMul after a global pool). */
  flat2(x: Computed): Computed {
    const s = this.front.shape(x);
    if (s.length === 2) return x;
    if (s.slice(2).every((d) => d === 1)) return this.reshapeTo(x, [BATCH, s[1]]);
    this.fail(`expects a rank-2 input, got [${s}]`);
  }

  /** x[..., start:end, ...] on the given ONNX axes. */
  sliceOf(x: Computed, axes: number[], starts: number[], ends: number[]): Computed {
    const xs = this.front.shape(x);
    const begin = xs.map(() => 0), size = xs.map((_, i) => (i === 0 ? -1 : xs[i]));
    axes.forEach((a, j) => {
      begin[a] = starts[j];
      size[a] = Math.max(0, ends[j] - starts[j]);
    });
    const order = (v: number[]) => (x.cl ? NHWC_OF.map((_, j) => v[NHWC_OF.indexOf(j)]) : v);
    return this.emit([x.ir], { op: 'slice', begin: order(begin), size: order(size) }, x.cl);
  }
}

