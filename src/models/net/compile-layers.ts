/**
 * Compiles a tfjs LayersModel into fused, fast-gradient steps: walks the symbolic graph back
 * from the output, folds BatchNormalization (and a following ReLU/Activation) into the
 * preceding conv/depthwise/dense, folds ZeroPadding2D into a following VALID conv as explicit
 * padding, strips the final softmax, and runs anything else through tfjs ops (or, for
 * unknown layers, layer.apply(), listed in `fallbacks`).
 */
import * as tf from '@tensorflow/tfjs';
import { registerFastGradients } from './conv-grad';
import { FusedActivation, isFusedActivation } from './ops';
import { CompiledNet, ProgramBuilder, type OutputHead } from './program';
import type { StepDesc } from './ir';

type ST = tf.SymbolicTensor;
type Layer = ST['sourceLayer'];
// Layer configs are plain serialised objects; fields are read by name below.
type Cfg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface LNode {
  key: string;
  st: ST;
  layer: Layer;
  cls: string;
  cfg: Cfg;
  inputs: string[];
  /** Keys of nodes that read this value; 'OUTPUT' when it is the network output. */
  consumers: string[];
}

const OUTPUT = 'OUTPUT';
const keyOf = (st: ST) => `t${st.id}`;
const IDENTITY = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization']);

/**
 * Nested models (a Sequential or functional model used as a layer, as transfer-learning exports
 * often are) are inlined: the nested model's output tensor stands for the outer node, and the
 * outer node's inputs stand for the nested model's inputs. Run as one layer, tfjs would take
 * the nested model's gradient with its own kernels, which wasm lacks.
 */
class Inliner {
  /** Inner input tensor id -> the outer tensor fed to it. */
  private readonly fedBy = new Map<number, ST>();

  resolve(st: ST): ST {
    for (;;) {
      const layer = st.sourceLayer;
      if (layer instanceof tf.LayersModel) {
        layer.inputs.forEach((inner, i) => {
          const prev = this.fedBy.get(inner.id);
          if (prev && prev.id !== st.inputs[i].id) throw new Error(`compileLayersModel: nested model ${layer.name} is applied more than once`);
          this.fedBy.set(inner.id, st.inputs[i]);
        });
        st = layer.outputs[st.outputTensorIndex ?? 0];
        continue;
      }
      const outer = this.fedBy.get(st.id);
      if (!outer) return st;
      st = outer;
    }
  }
}

/** Post-order walk from the output: every node after its inputs. */
function collect(out: ST, inl: Inliner): { order: LNode[]; nodes: Map<string, LNode> } {
  const nodes = new Map<string, LNode>();
  const order: LNode[] = [];
  const stack: Array<{ st: ST; expanded: boolean }> = [{ st: out, expanded: false }];
  while (stack.length) {
    const top = stack.pop()!;
    const key = keyOf(top.st);
    if (nodes.has(key)) continue;
    const inputs = (top.st.inputs ?? []).map((i) => inl.resolve(i));
    if (!top.expanded) {
      stack.push({ st: top.st, expanded: true });
      for (const i of inputs) if (!nodes.has(keyOf(i))) stack.push({ st: i, expanded: false });
      continue;
    }
    const layer = top.st.sourceLayer;
    const node: LNode = { key, st: top.st, layer, cls: layer.getClassName(), cfg: layer.getConfig() as Cfg, inputs: inputs.map(keyOf), consumers: [] };
    nodes.set(key, node);
    order.push(node);
  }
  for (const n of order) for (const i of n.inputs) nodes.get(i)!.consumers.push(n.key);
  nodes.get(keyOf(out))!.consumers.push(OUTPUT);
  return { order, nodes };
}

function weight(layer: Layer, suffix: string): tf.Tensor | undefined {
  const v = layer.weights.find((w) => (w.originalName ?? w.name).endsWith(`/${suffix}`));
  return v?.read();
}

function isLastAxis(axis: unknown, rank: number): boolean {
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis;
  return a === -1 || a === rank - 1;
}

/** BatchNormalization in inference mode as y = x * scale + shift over the last axis. */
function bnScaleShift(n: LNode): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
  return tf.tidy(() => {
    const mean = weight(n.layer, 'moving_mean') as tf.Tensor1D;
    const variance = weight(n.layer, 'moving_variance') as tf.Tensor1D;
    if (!mean || !variance) throw new Error(`BatchNormalization ${n.layer.name}: moving statistics not found`);
    const gamma = n.cfg.scale === false ? undefined : weight(n.layer, 'gamma');
    const beta = n.cfg.center === false ? undefined : weight(n.layer, 'beta');
    let scale = tf.rsqrt(tf.add(variance, n.cfg.epsilon ?? 1e-3)) as tf.Tensor1D;
    if (gamma) scale = tf.mul(scale, gamma);
    let shift = tf.neg(tf.mul(mean, scale)) as tf.Tensor1D;
    if (beta) shift = tf.add(shift, beta);
    return { scale, shift };
  });
}

/** The fused activation an Activation/ReLU layer computes, or undefined when it is something else. */
function fusableActivation(n: LNode): FusedActivation | undefined {
  if (n.cls === 'Activation') return isFusedActivation(n.cfg.activation) ? n.cfg.activation : undefined;
  if (n.cls === 'ReLU' && !n.cfg.negativeSlope && !n.cfg.threshold) {
    if (n.cfg.maxValue == null) return 'relu';
    if (n.cfg.maxValue === 6) return 'relu6';
  }
  return undefined;
}

/** Keras activation names as IR steps (tfjs closures for those the IR has no op for). */
const ACTIVATIONS: Record<string, StepDesc> = {
  linear: { op: 'reshape' },
  relu: { op: 'relu' },
  relu6: { op: 'relu6' },
  sigmoid: { op: 'sigmoid' },
  tanh: { op: 'tanh' },
  elu: { op: 'tfjs', run: ([x]) => tf.elu(x), what: 'elu' },
  selu: { op: 'tfjs', run: ([x]) => tf.selu(x), what: 'selu' },
  softplus: { op: 'tfjs', run: ([x]) => tf.softplus(x), what: 'softplus' },
  softmax: { op: 'tfjs', run: ([x]) => tf.softmax(x), what: 'softmax' },
};

interface Group {
  /** ZeroPadding2D folded into the conv's explicit padding. */
  pad?: LNode;
  bn?: LNode;
  act?: LNode;
  activation: string;
  /** Key of the last absorbed node: the group's output. */
  out: string;
}

function sole(nodes: Map<string, LNode>, n: LNode): LNode | undefined {
  return n.consumers.length === 1 && n.consumers[0] !== OUTPUT ? nodes.get(n.consumers[0]) : undefined;
}

/** Which neighbours a conv/depthwise/dense node absorbs. */
function plan(n: LNode, nodes: Map<string, LNode>, stripSoftmax: boolean): Group {
  const g: Group = { activation: stripSoftmax ? 'linear' : n.cfg.activation ?? 'linear', out: n.key };
  if (n.cls !== 'Dense' && n.cfg.padding === 'valid') {
    const p = nodes.get(n.inputs[0]);
    if (p && p.cls === 'ZeroPadding2D' && p.consumers.length === 1 && p.cfg.dataFormat !== 'channelsFirst') g.pad = p;
  }
  let tail = n;
  if (g.activation === 'linear') {
    const c = sole(nodes, tail);
    if (c && c.cls === 'BatchNormalization' && isLastAxis(c.cfg.axis, n.st.rank)) {
      g.bn = c;
      tail = c;
    }
    const a = sole(nodes, tail);
    const act = a && fusableActivation(a);
    if (a && act) {
      g.act = a;
      g.activation = act;
      tail = a;
    }
  }
  g.out = tail.key;
  return g;
}

function pair(v: number | number[]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];
}

function emitConv(b: ProgramBuilder, n: LNode, g: Group, input: string): void {
  const depthwise = n.cls === 'DepthwiseConv2D';
  const kernel = weight(n.layer, depthwise ? 'depthwise_kernel' : 'kernel') as tf.Tensor4D;
  if (!kernel) throw new Error(`${n.cls} ${n.layer.name}: kernel not found`);
  const bias = n.cfg.useBias ? (weight(n.layer, 'bias') as tf.Tensor1D) : undefined;
  const { filter, b: folded } = tf.tidy(() => {
    if (!g.bn) return { filter: tf.clone(kernel), b: bias ? tf.clone(bias) : undefined };
    const { scale, shift } = bnScaleShift(g.bn);
    const [kh, kw, c, m] = kernel.shape;
    const s = depthwise ? tf.reshape(scale, [c, m]) : scale;
    const f = tf.reshape(tf.mul(kernel, s), [kh, kw, c, m]) as tf.Tensor4D;
    return { filter: f, b: (bias ? tf.add(tf.mul(bias, scale), shift) : shift) as tf.Tensor1D };
  });
  let pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] = n.cfg.padding;
  if (g.pad) {
    const [[t, bo], [l, r]] = g.pad.cfg.padding as [[number, number], [number, number]];
    pad = [[0, 0], [t, bo], [l, r], [0, 0]];
  }
  const layer = b.conv({ depthwise, filter, bias: folded, strides: pair(n.cfg.strides), pad, dilations: pair(n.cfg.dilationRate ?? 1), activation: fusedOf(g) });
  emitWithActivation(b, n, g, input, { op: 'conv', layer });
}

function fusedOf(g: Group): FusedActivation {
  return isFusedActivation(g.activation) ? g.activation : 'linear';
}

/** The layer's step, then its activation as a step of its own when it cannot be fused. */
function emitWithActivation(b: ProgramBuilder, n: LNode, g: Group, input: string, desc: StepDesc): void {
  const after = ACTIVATIONS[g.activation];
  if (!after) throw new Error(`${n.cls} ${n.layer.name}: activation ${g.activation} is not supported`);
  if (isFusedActivation(g.activation)) {
    b.add(n.layer.name, [input], g.out, desc);
    return;
  }
  b.add(n.layer.name, [input], `${g.out}:pre`, desc);
  b.add(`${n.layer.name}/${g.activation}`, [`${g.out}:pre`], g.out, after);
}

function emitDense(b: ProgramBuilder, n: LNode, g: Group, input: string): void {
  const kernel = weight(n.layer, 'kernel') as tf.Tensor2D;
  if (!kernel) throw new Error(`Dense ${n.layer.name}: kernel not found`);
  const bias = n.cfg.useBias ? (weight(n.layer, 'bias') as tf.Tensor1D) : undefined;
  const { k, bb } = tf.tidy(() => {
    if (!g.bn) return { k: tf.clone(kernel), bb: bias ? tf.clone(bias) : undefined };
    const { scale, shift } = bnScaleShift(g.bn);
    return { k: tf.mul(kernel, scale) as tf.Tensor2D, bb: (bias ? tf.add(tf.mul(bias, scale), shift) : shift) as tf.Tensor1D };
  });
  emitWithActivation(b, n, g, input, { op: 'dense', layer: b.dense(k, bb, fusedOf(g)) });
}

/** The IR step of a simple layer, or undefined when there is none. */
function simpleLayer(b: ProgramBuilder, n: LNode): StepDesc | undefined {
  const c = n.cfg;
  if (c.dataFormat === 'channelsFirst') return undefined;
  const same: StepDesc = { op: 'reshape' };
  const tfjs = (what: string, run: (xs: tf.Tensor[]) => tf.Tensor): StepDesc => ({ op: 'tfjs', run, what });
  if (IDENTITY.has(n.cls)) return same;
  switch (n.cls) {
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return { op: 'pool', layer: b.pool(n.cls === 'MaxPooling2D' ? 'max' : 'avg', pair(c.poolSize), pair(c.strides ?? c.poolSize), c.padding) };
    case 'GlobalAveragePooling2D':
      return { op: 'mean', axes: [1, 2], keepDims: !!c.keepDims };
    case 'GlobalMaxPooling2D':
      return tfjs(n.cls, ([x]) => tf.max(x, [1, 2], !!c.keepDims));
    case 'Concatenate':
      return { op: 'concat', axis: c.axis ?? -1 };
    case 'Add':
      return { op: 'add' };
    case 'Multiply':
      return { op: 'mul' };
    case 'Subtract':
      return { op: 'sub' };
    case 'Average':
      return tfjs(n.cls, (xs) => tf.div(tf.addN(xs), xs.length));
    case 'Flatten':
      return { op: 'reshape', rest: [-1] };
    case 'Reshape':
      return { op: 'reshape', rest: c.targetShape as number[] };
    case 'ZeroPadding2D': {
      const [[t, bo], [l, r]] = c.padding as [[number, number], [number, number]];
      return { op: 'pad', pads: [[0, 0], [t, bo], [l, r], [0, 0]], value: 0 };
    }
    case 'Activation':
      return ACTIVATIONS[c.activation];
    case 'ReLU': {
      if (c.negativeSlope || c.threshold) return undefined;
      const max = c.maxValue;
      return max == null ? { op: 'relu' } : max === 6 ? { op: 'relu6' } : { op: 'clip', min: 0, max };
    }
    case 'LeakyReLU':
      return { op: 'leakyRelu', alpha: c.alpha ?? 0.3 };
    case 'Softmax':
      return isLastAxis(c.axis ?? -1, n.st.inputs[0].rank) ? tfjs(n.cls, ([x]) => tf.softmax(x)) : undefined;
    case 'BatchNormalization': {
      if (!isLastAxis(c.axis, n.st.rank)) return undefined;
      const { scale, shift } = bnScaleShift(n);
      b.own(scale);
      b.own(shift);
      return { op: 'affine', scale, shift };
    }
  }
  return undefined;
}

export function compileLayersModel(model: tf.LayersModel, head?: OutputHead): CompiledNet {
  registerFastGradients(); // fallback layers' plain convs get fast dx too
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`compileLayersModel: only single-input, single-output models are supported (${model.inputs.length} in, ${model.outputs.length} out)`);
  }
  // Strip the final softmax: a trailing Activation/Softmax layer, or the last Dense's activation.
  const inl = new Inliner();
  let out = inl.resolve(model.outputs[0]);
  let endsInSoftmax = false;
  let denseSoftmax: ST | undefined;
  const last = out.sourceLayer;
  const lastCfg = last.getConfig() as Cfg;
  if ((last.getClassName() === 'Activation' && lastCfg.activation === 'softmax') || (last.getClassName() === 'Softmax' && isLastAxis(lastCfg.axis ?? -1, out.rank))) {
    out = inl.resolve(out.inputs[0]);
    endsInSoftmax = true;
  } else if (last.getClassName() === 'Dense' && lastCfg.activation === 'softmax') {
    denseSoftmax = out;
    endsInSoftmax = true;
  }

  const { order, nodes } = collect(out, inl);
  const b = new ProgramBuilder();
  try {
    const absorbed = new Set<string>();
    const groups = new Map<string, Group>();
    for (const n of order) {
      if (n.cls === 'Conv2D' || n.cls === 'DepthwiseConv2D' || n.cls === 'Dense') {
        // Unknown activations or layouts: the layer falls back to layer.apply() below.
        if (n.cfg.dataFormat === 'channelsFirst' || !(n.cfg.activation in ACTIVATIONS)) continue;
        const g = plan(n, nodes, n.st === denseSoftmax);
        groups.set(n.key, g);
        for (const x of [g.pad, g.bn, g.act]) if (x) absorbed.add(x.key);
      }
    }
    let input: string | undefined;
    for (const n of order) {
      if (n.cls === 'InputLayer') {
        if (input !== undefined) throw new Error('compileLayersModel: more than one input layer');
        input = n.key;
        continue;
      }
      const g = groups.get(n.key);
      if (g) {
        const from = g.pad ? g.pad.inputs[0] : n.inputs[0];
        if (n.cls === 'Dense') emitDense(b, n, g, from);
        else emitConv(b, n, g, from);
        continue;
      }
      if (absorbed.has(n.key)) continue;
      const simple = simpleLayer(b, n);
      if (simple) {
        b.add(n.layer.name, n.inputs, n.key, simple);
        continue;
      }
      // Anything else: tfjs runs the layer itself (its gradient is tfjs' own).
      b.fallbacks.push(`${n.layer.name} (${n.cls})`);
      const layer = n.layer;
      const index = n.st.outputTensorIndex ?? 0;
      const run = (xs: tf.Tensor[]) => {
        const y = layer.apply(xs.length === 1 ? xs[0] : xs, { training: false }) as tf.Tensor | tf.Tensor[];
        return Array.isArray(y) ? y[index] : y;
      };
      b.add(layer.name, n.inputs, n.key, { op: 'tfjs', run, what: n.cls });
    }
    if (input === undefined) throw new Error('compileLayersModel: no InputLayer reached from the output');
    return b.build(input, keyOf(out), endsInSoftmax, () => model.dispose(), head);
  } catch (err) {
    b.abandon();
    throw err;
  }
}
