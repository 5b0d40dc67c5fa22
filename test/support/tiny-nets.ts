/**
 * Tiny networks with every layer type and graph op the bundled models use (and a few more),
 * with random weights: shared by the compiler tests (test/net/compile.test.ts) and the
 * onnxruntime export tests (test/net/onnx.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { fill, rng, size } from './random';

/** Give every weight random values (BN variances positive) so that folding is really tested. */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const r = rng(seed);
  for (const layer of model.layers) {
    const ws = layer.weights.map((w) => {
      const name = w.originalName ?? w.name;
      const v = fill(size(w.shape as number[]), r, 0.6);
      if (name.endsWith('moving_variance')) return tf.tensor(v.map((x) => 0.5 + Math.abs(x)), w.shape as number[]);
      if (name.endsWith('gamma')) return tf.tensor(v.map((x) => 1 + x), w.shape as number[]);
      return tf.tensor(v, w.shape as number[]);
    });
    if (ws.length) layer.setWeights(ws);
    tf.dispose(ws);
  }
}

/** MobileNetV2 / InceptionV3 building blocks, every layer type the bundled models use. */
export function tinyLayersModel(withFallback: boolean): tf.LayersModel {
  const input = tf.input({ shape: [9, 10, 3] });
  const L = tf.layers;
  const ap = (l: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => l.apply(x) as tf.SymbolicTensor;
  // Stem: ZeroPadding2D + valid strided conv (no bias) + BN + ReLU6.
  let x = ap(L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }), input);
  x = ap(L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }), x);
  x = ap(L.batchNormalization({ epsilon: 1e-3 }), x);
  x = ap(L.reLU({ maxValue: 6 }), x);
  // Inverted residual: depthwise + BN + ReLU6, 1x1 project + BN, Add.
  let y = ap(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }), x);
  y = ap(L.batchNormalization({}), y);
  y = ap(L.reLU({ maxValue: 6 }), y);
  y = ap(L.conv2d({ filters: 8, kernelSize: 1, useBias: false }), y);
  y = ap(L.batchNormalization({}), y);
  x = ap(L.add(), [x, y]);
  // Inception-style branches: conv + BN(scale=false) + Activation relu, pools, Concatenate.
  let b1 = ap(L.conv2d({ filters: 4, kernelSize: 1, useBias: false }), x);
  b1 = ap(L.batchNormalization({ scale: false }), b1);
  b1 = ap(L.activation({ activation: 'relu' }), b1);
  let b2 = ap(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), x);
  b2 = ap(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }), b2);
  const b3 = ap(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x);
  const b3u = ap(L.depthwiseConv2d({ kernelSize: 2, strides: 1, padding: 'same', depthMultiplier: 2, useBias: true }), b3);
  x = ap(L.concatenate(), [b1, b2]);
  x = ap(L.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid' }), x);
  // LeakyReLU is compiled (an IR op); ELU has no IR op, so tfjs runs that layer itself (a fallback).
  x = ap(withFallback ? L.elu({}) : L.leakyReLU({ alpha: 0.2 }), x);
  let z = ap(L.flatten(), x);
  const z3 = ap(L.globalAveragePooling2d({}), b3u);
  z = ap(L.concatenate(), [z, z3]);
  z = ap(L.dense({ units: 6, activation: 'relu' }), z);
  z = ap(L.dropout({ rate: 0.5 }), z);
  z = ap(L.dense({ units: 3, activation: withFallback ? 'linear' : 'softmax' }), z);
  return tf.model({ inputs: input, outputs: z });
}

// ---- A hand-written GraphModel: the ops MobileNetV2Mid uses plus the other supported ones.

interface Const { name: string; shape: number[]; dtype: 'float32' | 'int32'; values: number[] | Float32Array }
const b64 = (s: string) => Buffer.from(s).toString('base64');
const list = (xs: number[]) => ({ list: { i: xs.map(String) } });
const F = { T: { type: 'DT_FLOAT' } };

export function graphArtifacts(extraOp?: string): tf.io.ModelArtifacts {
  const r = rng(11);
  const consts: Const[] = [];
  const c = (name: string, shape: number[], scale = 0.6, dtype: 'float32' | 'int32' = 'float32', values?: number[]) => {
    consts.push({ name, shape, dtype, values: values ?? fill(size(shape), r, scale) });
    return name;
  };
  const nodes: object[] = [{ name: 'input', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '9' }, { size: '8' }, { size: '3' }] } } } }];
  const node = (name: string, op: string, input: string[], attr: object = {}) => {
    nodes.push({ name, op, input, attr: { ...F, ...attr } });
    return name;
  };
  const conv = (strides: number, padding: string) => ({ strides: list([1, strides, strides, 1]), padding: { s: b64(padding) }, data_format: { s: b64('NHWC') }, dilations: list([1, 1, 1, 1]) });
  const fused = (ops: string[]) => ({ fused_ops: { list: { s: ops.map(b64) } }, num_args: { i: '1' }, epsilon: { f: 0 } });
  // Input scaling as in MobileNetV2Mid: x * 2 - 1.
  let x = node('mul', 'Mul', [c('mul_y', [], 0, 'float32', [2]), 'input']);
  x = node('sub', 'Sub', [x, c('sub_y', [], 0, 'float32', [1])]);
  // _FusedConv2D BiasAdd+Relu6, stride 2 SAME.
  x = node('conv1', '_FusedConv2D', [x, c('w1', [3, 3, 3, 8]), c('b1', [8])], { ...conv(2, 'SAME'), ...fused(['BiasAdd', 'Relu6']) });
  // FusedDepthwiseConv2dNative BiasAdd+Relu6.
  const dw = node('dw', 'FusedDepthwiseConv2dNative', [x, c('wd', [3, 3, 8, 1]), c('bd', [8])], { ...conv(1, 'SAME'), ...fused(['BiasAdd', 'Relu6']) });
  // Plain Conv2D + BiasAdd + Relu (peephole fusion), AddV2 residual.
  let p = node('proj', 'Conv2D', [dw, c('wp', [1, 1, 8, 8], 3)], conv(1, 'SAME'));
  p = node('proj_bias', 'BiasAdd', [p, c('bp', [8], 4)], { data_format: { s: b64('NHWC') } });
  p = node('proj_relu', 'Relu', [p]);
  x = node('res', 'AddV2', [x, p]);
  // Standalone inference batch norm and a LeakyRelu.
  const variance = c('bn_var', [8], 0, 'float32', Array.from(fill(8, r)).map((v) => 0.5 + Math.abs(v)));
  x = node('bn', 'FusedBatchNormV3', [x, c('bn_gamma', [8]), c('bn_beta', [8]), c('bn_mean', [8]), variance], { epsilon: { f: 0.001 }, is_training: { b: false }, data_format: { s: b64('NHWC') } });
  x = node('leaky', 'LeakyRelu', [x], { alpha: { f: 0.1 } });
  // Pad + VALID strided conv (padding folding), plain conv without bias.
  const padded = node('pad', 'Pad', [x, c('paddings', [4, 2], 0, 'int32', [0, 0, 1, 1, 0, 1, 0, 0])]);
  const s2 = node('conv2', 'Conv2D', [padded, c('w2', [3, 3, 8, 6])], conv(2, 'VALID'));
  const mp = node('mp', 'MaxPool', [x], { ksize: list([1, 3, 3, 1]), strides: list([1, 2, 2, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') } });
  x = node('cat', 'ConcatV2', [s2, mp, c('axis', [], 0, 'int32', [3])], { N: { i: '2' } });
  x = node('relu6', 'Relu6', [x]);
  if (extraOp) x = node('extra', extraOp, [x]);
  const ap = node('ap', 'AvgPool', [x], { ksize: list([1, 2, 2, 1]), strides: list([1, 1, 1, 1]), padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') } });
  const mean = node('mean', 'Mean', [ap, c('axes', [2], 0, 'int32', [1, 2])], { keep_dims: { b: true } });
  const sq = node('sq', 'Squeeze', [mean], { squeeze_dims: list([1, 2]) });
  const flat = node('flat', 'Reshape', [x, c('shape', [2], 0, 'int32', [-1, 3 * 2 * 14])]);
  const d1 = node('fc1', '_FusedMatMul', [flat, c('wf', [84, 5]), c('bf', [5])], { ...fused(['BiasAdd', 'Relu']), transpose_a: { b: false }, transpose_b: { b: false } });
  const d2 = node('fc2', 'MatMul', [sq, c('wg', [4, 14])], { transpose_a: { b: false }, transpose_b: { b: true } });
  const both = node('both', 'ConcatV2', [d1, d2, c('axis1', [], 0, 'int32', [1])], { N: { i: '2' } });
  const logits = node('logits', '_FusedMatMul', [both, c('wl', [9, 4]), c('bl', [4])], { ...fused(['BiasAdd']), transpose_a: { b: false }, transpose_b: { b: false } });
  node('softmax', 'Softmax', [logits]);
  node('Identity', 'Identity', ['softmax']);
  for (const k of consts) nodes.push({ name: k.name, op: 'Const', attr: { dtype: { type: k.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: k.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: k.shape.map((s) => ({ size: String(s) })) } } } } });
  const data = Buffer.concat(consts.map((k) => Buffer.from((k.dtype === 'int32' ? Int32Array.from(k.values) : Float32Array.from(k.values)).buffer)));
  return {
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    format: 'graph-model',
    weightSpecs: consts.map((k) => ({ name: k.name, shape: k.shape, dtype: k.dtype })),
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
  };
}

