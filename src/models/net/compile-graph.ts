/**
 * Compiles a tfjs GraphModel by interpreting its TF node list (artifacts.modelTopology.node)
 * with fused fast-gradient ops. Weights come from model.weights. Peepholes: Conv2D -> BiasAdd
 * -> Relu/Relu6 chains become one fused conv, a Pad feeding only a VALID conv becomes the
 * conv's explicit padding, and the final Softmax is stripped. An op outside the supported
 * set throws an Error naming it: the caller then falls back to the plain model.
 */
import * as tf from '@tensorflow/tfjs';
import { ConvPad } from './conv-grad';
import type { FusedActivation } from './ops';
import { CompiledNet, ProgramBuilder, type OutputHead } from './program';
import type { StepDesc } from './ir';

/** The parts of a TF NodeDef (JSON form) that we read. */
interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}
interface AttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  list?: { i?: Array<string | number>; s?: string[] };
}

const decode = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const ints = (a: AttrValue | undefined) => (a?.list?.i ?? []).map(Number);
const str = (a: AttrValue | undefined) => (a?.s !== undefined ? decode(a.s) : undefined);
const strs = (a: AttrValue | undefined) => (a?.list?.s ?? []).map(decode);

/** 'name:0' -> 'name'; other output indices are not produced by the ops we support. */
function ref(input: string, node: NodeDef): string {
  const m = /^(.*?)(?::(\d+))?$/.exec(input)!;
  if (m[2] !== undefined && m[2] !== '0') throw new Error(`compileGraphModel: node ${node.name} reads output ${m[2]} of ${m[1]}: not supported`);
  return m[1];
}
const dataInputs = (n: NodeDef) => (n.input ?? []).filter((i) => !i.startsWith('^')).map((i) => ref(i, n));

const BINARY: Record<string, StepDesc> = {
  Add: { op: 'add' },
  AddV2: { op: 'add' },
  Sub: { op: 'sub' },
  Mul: { op: 'mul' },
  RealDiv: { op: 'div' },
  Maximum: { op: 'tfjs', run: ([a, b]) => tf.maximum(a, b), what: 'Maximum' },
  Minimum: { op: 'tfjs', run: ([a, b]) => tf.minimum(a, b), what: 'Minimum' },
};

function nhwcPair(list: number[], what: string, node: NodeDef): [number, number] {
  if (list.length === 0) return [1, 1];
  if (list.length !== 4 || list[0] !== 1 || list[3] !== 1) throw new Error(`compileGraphModel: node ${node.name}: unsupported ${what} [${list}]`);
  return [list[1], list[2]];
}

function assertNhwc(n: NodeDef): void {
  const f = str(n.attr?.data_format);
  if (f !== undefined && f !== 'NHWC') throw new Error(`compileGraphModel: node ${n.name} (${n.op}) uses data_format ${f}; only NHWC is supported`);
}

function convPadding(n: NodeDef): ConvPad {
  const p = str(n.attr?.padding) ?? 'VALID';
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  if (p === 'EXPLICIT') {
    const e = ints(n.attr?.explicit_paddings);
    return [[0, 0], [e[2], e[3]], [e[4], e[5]], [0, 0]];
  }
  throw new Error(`compileGraphModel: node ${n.name}: unsupported padding ${p}`);
}

function poolPadding(n: NodeDef): 'same' | 'valid' {
  const p = str(n.attr?.padding);
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  throw new Error(`compileGraphModel: node ${n.name}: unsupported padding ${p}`);
}

export function compileGraphModel(model: tf.GraphModel, artifacts: tf.io.ModelArtifacts, head?: OutputHead): CompiledNet {
  const topo = artifacts.modelTopology as { node?: NodeDef[] } | undefined;
  if (!topo?.node) throw new Error('compileGraphModel: artifacts have no node list');
  const byName = new Map(topo.node.map((n) => [n.name, n]));
  if (model.inputNodes.length !== 1 || model.outputNodes.length !== 1) {
    throw new Error(`compileGraphModel: only single-input, single-output graphs are supported`);
  }
  const inputName = model.inputNodes[0].replace(/:0$/, '');
  const node = (name: string) => {
    const n = byName.get(name);
    if (!n) throw new Error(`compileGraphModel: node ${name} not found`);
    return n;
  };

  // Strip trailing Identity nodes and the final Softmax.
  let outName = model.outputNodes[0].replace(/:0$/, '');
  let endsInSoftmax = false;
  for (;;) {
    const n = node(outName);
    if (n.op === 'Identity') outName = dataInputs(n)[0];
    else if (n.op === 'Softmax' && !endsInSoftmax) {
      endsInSoftmax = true;
      outName = dataInputs(n)[0];
    } else break;
  }

  // Post-order over the nodes the output depends on, and who reads each.
  const order: NodeDef[] = [];
  const seen = new Set<string>();
  const stack: Array<[string, boolean]> = [[outName, false]];
  while (stack.length) {
    const [name, expanded] = stack.pop()!;
    if (seen.has(name)) continue;
    if (!expanded) {
      stack.push([name, true]);
      for (const i of dataInputs(node(name))) if (!seen.has(i)) stack.push([i, false]);
      continue;
    }
    seen.add(name);
    order.push(node(name));
  }
  const consumers = new Map<string, string[]>(order.map((n) => [n.name, []]));
  for (const n of order) for (const i of dataInputs(n)) consumers.get(i)!.push(n.name);
  consumers.get(outName)!.push('OUTPUT');
  const sole = (name: string) => {
    const c = consumers.get(name)!;
    return c.length === 1 && c[0] !== 'OUTPUT' ? node(c[0]) : undefined;
  };

  const weights = model.weights as unknown as Record<string, tf.Tensor | tf.Tensor[]>;
  const weightOf = (name: string): tf.Tensor | undefined => {
    const w = weights[name];
    return Array.isArray(w) ? w[0] : w;
  };

  const b = new ProgramBuilder();
  try {
    const constValue = (name: string, user: NodeDef): tf.Tensor => {
      const t = b.constOf(name);
      if (!t) throw new Error(`compileGraphModel: node ${user.name} (${user.op}) needs ${name} to be a constant`);
      return t;
    };
    const absorbed = new Set<string>();
    let sawInput = false;

    for (const n of order) {
      if (absorbed.has(n.name)) continue;
      const ins = dataInputs(n);
      switch (n.op) {
        case 'Placeholder':
          if (n.name !== inputName) throw new Error(`compileGraphModel: extra input ${n.name}`);
          sawInput = true;
          break;
        case 'Const': {
          const w = weightOf(n.name);
          if (!w) throw new Error(`compileGraphModel: constant ${n.name} has no weight`);
          b.setConst(n.name, w);
          break;
        }
        case 'Identity':
          b.add(n.name, [ins[0]], n.name, { op: 'reshape' });
          break;
        case 'Conv2D':
        case 'DepthwiseConv2dNative':
        case '_FusedConv2D':
        case 'FusedDepthwiseConv2dNative':
          emitConv(n);
          break;
        case 'BiasAdd':
          assertNhwc(n);
          b.add(n.name, ins, n.name, { op: 'add' });
          break;
        case 'Relu':
          b.add(n.name, ins, n.name, { op: 'relu' });
          break;
        case 'Relu6':
          b.add(n.name, ins, n.name, { op: 'relu6' });
          break;
        case 'Softmax':
          b.add(n.name, ins, n.name, { op: 'tfjs', run: ([x]) => tf.softmax(x), what: n.op });
          break;
        case 'Sigmoid':
          b.add(n.name, ins, n.name, { op: 'sigmoid' });
          break;
        case 'Tanh':
          b.add(n.name, ins, n.name, { op: 'tanh' });
          break;
        case 'LeakyRelu': {
          const alpha = n.attr?.alpha?.f ?? 0.2;
          b.add(n.name, ins, n.name, { op: 'leakyRelu', alpha });
          break;
        }
        case 'FusedBatchNorm':
        case 'FusedBatchNormV3': {
          // Inference batch norm with constant statistics: x * scale' + shift'.
          if (n.attr?.is_training?.b) throw new Error(`compileGraphModel: unsupported op ${n.op} in training mode (node ${n.name})`);
          assertNhwc(n);
          const [gamma, beta, mean, variance] = ins.slice(1, 5).map((i) => constValue(i, n));
          const eps = n.attr?.epsilon?.f ?? 1e-3;
          const scale = b.own(tf.tidy(() => tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)))));
          const shift = b.own(tf.tidy(() => tf.sub(beta, tf.mul(mean, scale))));
          b.add(n.name, [ins[0]], n.name, { op: 'affine', scale: scale as tf.Tensor1D, shift: shift as tf.Tensor1D });
          break;
        }
        case 'AvgPool':
        case 'MaxPool': {
          assertNhwc(n);
          const k = nhwcPair(ints(n.attr?.ksize), 'ksize', n);
          const s = nhwcPair(ints(n.attr?.strides), 'strides', n);
          const p = poolPadding(n);
          const l = b.pool(n.op === 'MaxPool' ? 'max' : 'avg', k, s, p);
          b.add(n.name, ins, n.name, { op: 'pool', layer: l });
          break;
        }
        case 'Squeeze': {
          const dims = ints(n.attr?.squeeze_dims ?? n.attr?.axis);
          // No dims means "all size-1 axes"; never squeeze the batch axis (N may be 1).
          b.add(n.name, [ins[0]], n.name, { op: 'reshape', squeeze: dims });
          break;
        }
        case 'MatMul':
        case '_FusedMatMul':
          emitMatMul(n);
          break;
        case 'Mean': {
          const axes = Array.from(constValue(ins[1], n).dataSync());
          const keep = !!n.attr?.keep_dims?.b;
          b.add(n.name, [ins[0]], n.name, { op: 'mean', axes, keepDims: keep });
          break;
        }
        case 'Reshape': {
          const shape = Array.from(constValue(ins[1], n).dataSync());
          // Axis 0 is the batch (a converted graph may have batch 1 baked in): keep the actual batch.
          if (shape.length < 2) throw new Error(`compileGraphModel: node ${n.name} reshapes to rank ${shape.length}, merging the batch axis`);
          b.add(n.name, [ins[0]], n.name, { op: 'reshape', rest: shape.slice(1) });
          break;
        }
        case 'ConcatV2': {
          const axis = constValue(ins[ins.length - 1], n).dataSync()[0];
          b.add(n.name, ins.slice(0, -1), n.name, { op: 'concat', axis });
          break;
        }
        case 'Pad':
        case 'PadV2': {
          const pads = padsOf(n);
          const value = n.op === 'PadV2' ? constValue(ins[2], n).dataSync()[0] : 0;
          b.add(n.name, [ins[0]], n.name, { op: 'pad', pads, value });
          break;
        }
        default: {
          const binary = BINARY[n.op];
          if (!binary) throw new Error(`compileGraphModel: unsupported op ${n.op} (node ${n.name})`);
          b.add(n.name, ins, n.name, binary);
        }
      }
    }
    if (!sawInput) throw new Error(`compileGraphModel: input ${inputName} is not reached from the output`);
    return b.build(inputName, outName, endsInSoftmax, () => model.dispose(), head);

    function padsOf(n: NodeDef): Array<[number, number]> {
      const p = Array.from(constValue(dataInputs(n)[1], n).dataSync());
      const pairs: Array<[number, number]> = [];
      for (let i = 0; i < p.length; i += 2) pairs.push([p[i], p[i + 1]]);
      return pairs;
    }

    /** A fused or plain conv, absorbing a preceding Pad and following BiasAdd / Relu / Relu6. */
    function emitConv(n: NodeDef): void {
      assertNhwc(n);
      const ins = dataInputs(n);
      const depthwise = n.op === 'DepthwiseConv2dNative' || n.op === 'FusedDepthwiseConv2dNative';
      const filter = constValue(ins[1], n) as tf.Tensor4D;
      let bias: tf.Tensor1D | undefined;
      let activation: FusedActivation = 'linear';
      let out = n.name;
      if (n.op.startsWith('_Fused') || n.op.startsWith('Fused')) {
        const ops = strs(n.attr?.fused_ops);
        for (const op of ops) {
          if (op === 'BiasAdd') bias = constValue(ins[2], n) as tf.Tensor1D;
          else if (op === 'Relu') activation = 'relu';
          else if (op === 'Relu6') activation = 'relu6';
          else throw new Error(`compileGraphModel: unsupported op ${n.op} with fused op ${op} (node ${n.name})`);
        }
      }
      // Peepholes: [BiasAdd(const)] then [Relu | Relu6], each the only reader of the previous.
      if (!bias && activation === 'linear') {
        const c = sole(out);
        if (c && c.op === 'BiasAdd' && b.constOf(dataInputs(c)[1]) && dataInputs(c)[0] === out) {
          bias = b.constOf(dataInputs(c)[1]) as tf.Tensor1D;
          absorbed.add(c.name);
          out = c.name;
        }
      }
      if (activation === 'linear') {
        const c = sole(out);
        if (c && (c.op === 'Relu' || c.op === 'Relu6')) {
          activation = c.op === 'Relu' ? 'relu' : 'relu6';
          absorbed.add(c.name);
          out = c.name;
        }
      }
      let pad = convPadding(n);
      let from = ins[0];
      const p = byName.get(from);
      if (pad === 'valid' && p && (p.op === 'Pad' || (p.op === 'PadV2' && b.constOf(dataInputs(p)[2])?.dataSync()[0] === 0)) && sole(p.name) === n) {
        const pp = padsOf(p);
        if (pp.length === 4 && pp[0][0] === 0 && pp[0][1] === 0 && pp[3][0] === 0 && pp[3][1] === 0) {
          // The Pad step was already emitted (it precedes the conv); the conv now reads its input.
          pad = [[0, 0], pp[1], pp[2], [0, 0]];
          from = dataInputs(p)[0];
          const i = b.steps.findIndex((s) => s.out === p.name);
          if (i >= 0) b.steps.splice(i, 1);
        }
      }
      const layer = b.conv({
        depthwise,
        filter: tf.clone(filter),
        bias: bias ? tf.clone(bias) : undefined,
        strides: nhwcPair(ints(n.attr?.strides), 'strides', n),
        pad,
        dilations: nhwcPair(ints(n.attr?.dilations), 'dilations', n),
        activation,
      });
      b.add(n.name, [from], out, { op: 'conv', layer });
    }

    /** x @ W (+ bias, activation) with a constant W: a fused dense op; otherwise tf.matMul. */
    function emitMatMul(n: NodeDef): void {
      const ins = dataInputs(n);
      const ta = !!n.attr?.transpose_a?.b, tb = !!n.attr?.transpose_b?.b;
      const w = b.constOf(ins[1]);
      let bias: tf.Tensor1D | undefined;
      let activation: FusedActivation = 'linear';
      for (const op of n.op === '_FusedMatMul' ? strs(n.attr?.fused_ops) : []) {
        if (op === 'BiasAdd') bias = constValue(ins[2], n) as tf.Tensor1D;
        else if (op === 'Relu') activation = 'relu';
        else if (op === 'Relu6') activation = 'relu6';
        else throw new Error(`compileGraphModel: unsupported op ${n.op} with fused op ${op} (node ${n.name})`);
      }
      if (w && !ta && w.rank === 2) {
        const kernel = tf.tidy(() => (tb ? tf.transpose(w) : tf.clone(w))) as tf.Tensor2D;
        const layer = b.dense(kernel, bias ? tf.clone(bias) : undefined, activation);
        b.add(n.name, [ins[0]], n.name, { op: 'dense', layer });
        return;
      }
      if (activation !== 'linear') throw new Error(`compileGraphModel: unsupported op ${n.op} with a non-constant weight and activation (node ${n.name})`);
      const run = ([x, y, v]: tf.Tensor[]) => {
        const z = tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb);
        return v ? tf.add(z, v) : z;
      };
      b.add(n.name, ins.slice(0, bias ? 3 : 2), n.name, { op: 'tfjs', run, what: n.op });
    }
  } catch (err) {
    b.abandon();
    throw err;
  }
}
