/**
 * compileLayersModel / compileGraphModel on tiny models built here, on wasm: the compiled
 * forward must equal the model's own predict (softmax applied where the model ends in one),
 * its input gradient must match finite differences, nothing may leak, and unsupported graph
 * ops must be refused by name.
 */
import t, { Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { CompiledNet, compileGraphModel, compileLayersModel } from '../../src/models/net/compile';

import { fill, rng, size } from '../support/random';

/** Give every weight random values (BN variances positive) so that folding is really tested. */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
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

/**
 * Input gradient of sum(forward(x) * R) vs central differences on `count` spread-out
 * elements. The tiny models are piecewise linear (ReLU/ReLU6, pools, BN, dense), so an
 * element is skipped only when a kink lies within the difference interval (quarter-slopes
 * disagree); at most 20% may be skipped.
 */
function checkGrad(t: Test, name: string, net: CompiledNet, xShape: number[], seed: number, count: number): void {
  const r = rng(seed);
  const x0 = fill(size(xShape), r);
  const yShape = tf.tidy(() => net.forward(tf.tensor4d(x0, xShape as [number, number, number, number])).shape);
  const weights = fill(size(yShape), r);
  const loss = (x: Float32Array) =>
    tf.tidy(() => {
      const y = net.forward(tf.tensor4d(x, xShape as [number, number, number, number])).dataSync();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * weights[i];
      return s;
    });
  const analytic = tf.tidy(() => {
    const w = tf.tensor(weights, yShape);
    const f = (x: tf.Tensor) => tf.sum(tf.mul(net.forward(x as tf.Tensor4D), w));
    return tf.grad(f)(tf.tensor4d(x0, xShape as [number, number, number, number])).dataSync() as Float32Array;
  });
  const e = 1e-2;
  let skipped = 0, worst = 0, nonzero = 0, checked = 0;
  const step = Math.max(1, Math.floor(x0.length / count));
  for (let i = seed % step; i < x0.length; i += step) {
    checked++;
    const v = [-2, -1, 0, 1, 2].map((k) => {
      const x = x0.slice();
      x[i] += (k * e) / 2;
      return loss(x);
    });
    const slopes = [0, 1, 2, 3].map((k) => (v[k + 1] - v[k]) / (e / 2));
    const central = (v[4] - v[0]) / (2 * e);
    if (Math.max(...slopes) - Math.min(...slopes) > 2e-3 * Math.max(1, Math.abs(central))) {
      skipped++;
      continue;
    }
    if (Math.abs(central) > 1e-4) nonzero++;
    worst = Math.max(worst, Math.abs(analytic[i] - central) / Math.max(1, Math.abs(central)));
  }
  t.ok(worst < 2e-3, `${name}: max error vs finite differences ${worst.toExponential(2)} over ${checked - skipped} elements`);
  t.ok(skipped <= 0.2 * checked, `${name}: ${skipped}/${checked} elements on a kink skipped`);
  t.ok(nonzero > 0.5 * (checked - skipped), `${name}: ${nonzero}/${checked - skipped} finite-difference derivatives nonzero`);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Forward + gradient inside one tidy must leave the tensor count unchanged (after a warm-up). */
function checkNoLeak(t: Test, name: string, net: CompiledNet, x: tf.Tensor4D): void {
  const run = () => tf.tidy(() => {
    const g = tf.grad((z: tf.Tensor) => tf.sum(net.forward(z as tf.Tensor4D)))(x);
    g.dataSync();
  });
  run(); // first call may create and keep per-layer gradient kernels
  const before = tf.memory().numTensors;
  run();
  t.equal(tf.memory().numTensors, before, `${name}: no tensors leaked by forward + gradient`);
}

t.before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** MobileNetV2 / InceptionV3 building blocks, every layer type the bundled models use. */
function tinyLayersModel(withFallback: boolean): tf.LayersModel {
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
  if (withFallback) x = ap(L.leakyReLU({ alpha: 0.2 }), x);
  let z = ap(L.flatten(), x);
  const z3 = ap(L.globalAveragePooling2d({}), b3u);
  z = ap(L.concatenate(), [z, z3]);
  z = ap(L.dense({ units: 6, activation: 'relu' }), z);
  z = ap(L.dropout({ rate: 0.5 }), z);
  z = ap(L.dense({ units: 3, activation: withFallback ? 'linear' : 'softmax' }), z);
  return tf.model({ inputs: input, outputs: z });
}

t.test('tiny LayersModel: folded BN/activations/padding, pools, add, concat, dense softmax', async (t) => {
  const model = tinyLayersModel(false);
  randomizeWeights(model, 3);
  const x = tf.tensor4d(fill(2 * 9 * 10 * 3, rng(4)), [2, 9, 10, 3]);
  const expected = model.predict(x) as tf.Tensor;
  const net = compileLayersModel(model);
  t.same(net.fallbacks, [], 'no fallbacks');
  // Nothing reads the source model without fallbacks, so compiling frees it (a wasm heap never shrinks).
  t.throws(() => model.predict(x), 'the source model is freed at compile time');
  t.equal(net.endsInSoftmax, true, 'final Dense softmax stripped');
  const got = tf.tidy(() => tf.softmax(net.forward(x)));
  const d = maxAbsDiff(got, expected);
  t.ok(d < 1e-5, `softmax(compiled forward) equals predict: max |diff| ${d.toExponential(2)}`);
  checkGrad(t, 'tiny layers model', net, [2, 9, 10, 3], 5, 160);
  checkNoLeak(t, 'tiny layers model', net, x);
  tf.dispose([x, expected, got]);
  const before = tf.memory().numTensors;
  net.dispose();
  t.ok(tf.memory().numTensors < before, 'dispose frees the compiled weights and the model');
});

t.test('tiny LayersModel with an unsupported layer: falls back to layer.apply, listed', async (t) => {
  const model = tinyLayersModel(true);
  randomizeWeights(model, 6);
  const x = tf.tensor4d(fill(2 * 9 * 10 * 3, rng(7)), [2, 9, 10, 3]);
  const expected = model.predict(x) as tf.Tensor;
  const net = compileLayersModel(model);
  t.equal(net.fallbacks.length, 1, `one fallback: ${net.fallbacks}`);
  t.match(net.fallbacks[0], /LeakyReLU/, 'the LeakyReLU layer is the fallback');
  t.equal(net.endsInSoftmax, false, 'no softmax to strip');
  tf.tidy(() => model.predict(x)); // the fallback runs the model's layers: it must stay alive
  const got = tf.tidy(() => net.forward(x));
  const d = maxAbsDiff(got, expected);
  t.ok(d < 1e-5, `compiled forward equals predict: max |diff| ${d.toExponential(2)}`);
  checkGrad(t, 'layers model with fallback', net, [2, 9, 10, 3], 8, 100);
  tf.dispose([x, expected, got]);
  net.dispose();
});

t.test('nested model (transfer-learning style) is inlined, and a Sequential model compiles', async (t) => {
  const L = tf.layers;
  // Inner functional "base" model with its own Input.
  const inIn = tf.input({ shape: [8, 8, 3] });
  let h = L.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(inIn) as tf.SymbolicTensor;
  h = L.batchNormalization({}).apply(h) as tf.SymbolicTensor;
  h = L.reLU({ maxValue: 6 }).apply(h) as tf.SymbolicTensor;
  h = L.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(h) as tf.SymbolicTensor;
  const base = tf.model({ inputs: inIn, outputs: L.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor });
  // Outer model: base as one layer, then a Dense softmax head.
  const outIn = tf.input({ shape: [8, 8, 3] });
  const feats = base.apply(outIn) as tf.SymbolicTensor;
  const model = tf.model({ inputs: outIn, outputs: L.dense({ units: 4, activation: 'softmax' }).apply(feats) as tf.SymbolicTensor });
  randomizeWeights(model, 21);
  randomizeWeights(base, 22);
  const x = tf.tensor4d(fill(2 * 8 * 8 * 3, rng(23)), [2, 8, 8, 3]);
  const expected = model.predict(x) as tf.Tensor;
  const net = compileLayersModel(model);
  t.same(net.fallbacks, [], 'the nested model is inlined, not a fallback');
  t.equal(net.endsInSoftmax, true, 'softmax stripped');
  const d = maxAbsDiff(tf.tidy(() => tf.softmax(net.forward(x))), expected);
  t.ok(d < 1e-5, `nested: softmax(compiled forward) equals predict: max |diff| ${d.toExponential(2)}`);
  checkGrad(t, 'nested model', net, [2, 8, 8, 3], 24, 80);
  tf.dispose([x, expected]);
  net.dispose();

  const seq = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [7, 7, 2], filters: 4, kernelSize: 3, activation: 'relu' }),
      L.maxPooling2d({ poolSize: 2 }),
      L.flatten(),
      L.dense({ units: 3 }),
      L.activation({ activation: 'softmax' }),
    ],
  });
  randomizeWeights(seq, 25);
  const xs = tf.tensor4d(fill(2 * 7 * 7 * 2, rng(26)), [2, 7, 7, 2]);
  const ys = seq.predict(xs) as tf.Tensor;
  const sn = compileLayersModel(seq);
  t.same(sn.fallbacks, [], 'Sequential: no fallbacks');
  t.equal(sn.endsInSoftmax, true, 'Sequential: trailing Activation softmax stripped');
  const ds = maxAbsDiff(tf.tidy(() => tf.softmax(sn.forward(xs))), ys);
  t.ok(ds < 1e-5, `Sequential: softmax(compiled forward) equals predict: max |diff| ${ds.toExponential(2)}`);
  checkGrad(t, 'sequential model', sn, [2, 7, 7, 2], 27, 60);
  tf.dispose([xs, ys]);
  sn.dispose();
});

// ---- A hand-written GraphModel: the ops MobileNetV2Mid uses plus the other supported ones.

interface Const { name: string; shape: number[]; dtype: 'float32' | 'int32'; values: number[] | Float32Array }
const b64 = (s: string) => Buffer.from(s).toString('base64');
const list = (xs: number[]) => ({ list: { i: xs.map(String) } });
const F = { T: { type: 'DT_FLOAT' } };

function graphArtifacts(extraOp?: string): tf.io.ModelArtifacts {
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

t.test('tiny GraphModel: fused convs, peepholes, pad folding, batch norm, pools, concat, matmuls, softmax stripped', async (t) => {
  const artifacts = graphArtifacts();
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const x = tf.tensor4d(fill(2 * 9 * 8 * 3, rng(12), 0.5).map((v) => v + 0.5), [2, 9, 8, 3]);
  const expected = model.predict(x) as tf.Tensor;
  const net = compileGraphModel(model, artifacts);
  t.same(net.fallbacks, [], 'no fallbacks');
  t.equal(net.endsInSoftmax, true, 'final Softmax stripped');
  const got = tf.tidy(() => tf.softmax(net.forward(x)));
  const d = maxAbsDiff(got, expected);
  t.ok(d < 1e-5, `softmax(compiled forward) equals predict: max |diff| ${d.toExponential(2)}`);
  checkGrad(t, 'tiny graph model', net, [2, 9, 8, 3], 13, 160);
  checkNoLeak(t, 'tiny graph model', net, x);
  tf.dispose([x, expected, got]);
  net.dispose();
});

t.test('GraphModel with an unsupported op: compileGraphModel throws naming it and frees what it built', async (t) => {
  const artifacts = graphArtifacts('Erf');
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const before = tf.memory().numTensors;
  t.throws(() => compileGraphModel(model, artifacts), /unsupported op Erf/);
  t.equal(tf.memory().numTensors, before, 'no tensors left behind by the failed compile');
  // The model itself is untouched and still usable by the caller's fallback.
  const y = tf.tidy(() => (model.predict(tf.ones([1, 9, 8, 3])) as tf.Tensor).shape);
  t.same(y, [1, 4], 'model still works');
  model.dispose();
});
