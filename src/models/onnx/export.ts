/**
 * Exports a compiled network (src/models/net) to ONNX as ONE graph that computes, for a batch,
 * the logits and the input gradient of the attack objective, so that onnxruntime runs the whole
 * forward + backward pass with its own (native, multi-threaded) kernels. Each step's nodes come
 * from the op table (src/models/net/ops-table): its forward in program order, then, in reverse,
 * the nodes of its input gradients (ONNX has no autodiff).
 *
 * Inputs:  x [N, h, w, 3] (NHWC, model range and size), onehot [N, K], sign [N, 1], uselogit [N, 1],
 *          usemargin [N, 1], kappa [N, 1].
 * Outputs: logits [N, K], dx [N, h, w, 3] = d/dx of sum_i sign_i * score_i, where score_i is
 *          log softmax(logits_i)[cls_i] (uselogit 0) or logits_i[cls_i] (uselogit 1), or with
 *          usemargin 1 the C&W margin min(z_cls - max_{j != cls} z_j, kappa) (as src/engine/gradients.ts).
 * Rank-4 values run in NCHW (ONNX's layout); shapes are static except the batch.
 */
import * as tf from '@tensorflow/tfjs';
import type { NetGraph } from '../net/program';
import { forwardMacsOf } from '../net/flops';
import { ExportError, exportStep, type ExportCtx } from '../net/ops-table';
import type { Exported } from '../net/ops-table/types';
import { GraphWriter } from './graph-writer';
import type { OnnxModel } from './proto';

export { ExportError };

const OPSET = 17;

export interface ExportOptions {
  /** Model input [height, width]; channels are 3. */
  inputSize: [number, number];
}

/** A constant's data laid out for a user of rank `userRank` (physical layout, see ops-table/types). */
function constLayout(c: tf.Tensor, userRank: number, name: string): { dims: number[]; data: Float32Array } {
  if (c.rank === 0) return { dims: [], data: c.dataSync() as Float32Array };
  if (c.rank === 1) return { dims: userRank === 4 ? [1, c.shape[0], 1, 1] : c.shape.slice(), data: c.dataSync() as Float32Array };
  if (c.rank === 4) {
    const t = tf.transpose(c, [0, 3, 1, 2]);
    try {
      return { dims: t.shape.slice(), data: t.dataSync() as Float32Array };
    } finally {
      t.dispose();
    }
  }
  if (c.rank === userRank) return { dims: c.shape.slice(), data: c.dataSync() as Float32Array };
  throw new ExportError(`constant ${name} of shape [${c.shape}] cannot be laid out for a rank-${userRank} value`);
}

export function exportGradientGraph(graph: NetGraph, opts: ExportOptions): { model: OnnxModel; classes: number; forwardMacs: number } {
  const [h, w] = opts.inputSize;
  const probe = tf.zeros([1, h, w, 3]) as tf.Tensor4D;
  const shapes = graph.shapes(probe);
  probe.dispose();
  const g = new GraphWriter();
  const value = new Map<string, string>(); // program value -> ONNX name (physical layout)
  const constNames = new Map<string, string>();
  const ctx: ExportCtx = {
    g,
    shapeOf(name) {
      const s = shapes.get(name);
      if (!s) throw new ExportError(`no shape recorded for ${name}`);
      return s;
    },
    isConst: (name) => graph.consts.has(name),
    constOf: (name) => graph.consts.get(name),
    input(name, userRank) {
      const v = value.get(name);
      if (v) return v;
      const c = graph.consts.get(name);
      if (!c) throw new ExportError(`value ${name} is read before it is computed`);
      const key = `${name}@${userRank}`;
      let cn = constNames.get(key);
      if (!cn) {
        const { dims, data } = constLayout(c, userRank, name);
        cn = g.floats(dims, data, 'c');
        constNames.set(key, cn);
      }
      return cn;
    },
    convWeights: new Map(),
    convFlipped: new Map(),
  };

  const xIn = 'x', onehot = 'onehot', sign = 'sign', uselogit = 'uselogit', usemargin = 'usemargin', kappa = 'kappa';
  value.set(graph.input, g.one('Transpose', [xIn], { perm: [0, 3, 1, 2] }));

  const exported: Exported[] = [];
  graph.steps.forEach((s, i) => {
    const rank = ctx.shapeOf(s.out).length;
    exported[i] = exportStep(ctx, s.desc, s, s.inputs.map((k) => ctx.input(k, rank)));
    value.set(s.out, exported[i].y);
  });

  const outShape = ctx.shapeOf(graph.output);
  let logits = value.get(graph.output)!;
  if (outShape.length === 4 && outShape[1] === 1 && outShape[2] === 1) logits = g.one('Flatten', [logits], { axis: 1 });
  else if (outShape.length !== 2) throw new ExportError(`network output has shape [${outShape}]`);
  const classes = outShape[outShape.length - 1];
  const logitsOut = 'logits';
  g.nodes.push({ op: 'Identity', inputs: [logits], outputs: [logitsOut] });

  // d objective / d logits = sign * (onehot - (1 - uselogit) * softmax(logits)).
  const p = g.one('Softmax', [logits], { axis: 1 });
  const ce = g.one('Mul', [g.one('Sub', [g.scalar(1), uselogit]), p]);
  const scoreSeed = g.one('Sub', [onehot, ce]);
  // Margin: d/dlogits = [d <= kappa] * (onehot - [z_j is the others' max]), d = z_cls - max_{j != cls} z_j,
  // the same subgradient as tfjs's minimum and max (ties: every maximal class gets it).
  const masked = g.one('Sub', [logits, g.one('Mul', [onehot, g.scalar(1e9)])]);
  const others = g.one('ReduceMax', [masked], { axes: [1], keepdims: 1 });
  const isOther = g.one('Cast', [g.one('Equal', [masked, others])], { to: 1 });
  const own = g.one('ReduceSum', [g.one('Mul', [logits, onehot]), g.int64s([1])], { keepdims: 1 });
  const active = g.one('Cast', [g.one('LessOrEqual', [g.one('Sub', [own, others]), kappa])], { to: 1 });
  const marginSeed = g.one('Mul', [active, g.one('Sub', [onehot, isOther])]);
  const chosen = g.one('Add', [g.one('Mul', [g.one('Sub', [g.scalar(1), usemargin]), scoreSeed]), g.one('Mul', [usemargin, marginSeed])]);
  let seed = g.one('Mul', [sign, chosen]);
  if (outShape.length === 4) seed = g.one('Reshape', [seed, g.int64s([-1, classes, 1, 1])]);

  // Reverse sweep: every value's gradient is the sum of what its readers send back.
  const grads = new Map<string, string[]>([[graph.output, [seed]]]);
  const gradOf = (name: string): string | undefined => {
    const list = grads.get(name);
    if (!list) return undefined;
    return list.length === 1 ? list[0] : g.one('Sum', list);
  };
  for (let i = graph.steps.length - 1; i >= 0; i--) {
    const s = graph.steps[i];
    const dy = gradOf(s.out);
    if (!dy) continue;
    exported[i].back(dy).forEach((gr, j) => {
      const k = s.inputs[j];
      if (gr === undefined || ctx.isConst(k)) return;
      grads.set(k, [...(grads.get(k) ?? []), gr]);
    });
  }
  const dIn = gradOf(graph.input);
  if (!dIn) throw new ExportError('the output does not depend on the input');
  g.nodes.push({ op: 'Transpose', inputs: [dIn], outputs: ['dx'], attrs: { perm: [0, 2, 3, 1] } });

  return {
    classes,
    forwardMacs: forwardMacsOf(graph, shapes),
    model: {
      opset: OPSET,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [
        { name: xIn, dims: [null, h, w, 3] },
        { name: onehot, dims: [null, classes] },
        { name: sign, dims: [null, 1] },
        { name: uselogit, dims: [null, 1] },
        { name: usemargin, dims: [null, 1] },
        { name: kappa, dims: [null, 1] },
      ],
      outputs: [
        { name: logitsOut, dims: [null, classes] },
        { name: 'dx', dims: [null, h, w, 3] },
      ],
    },
  };
}
