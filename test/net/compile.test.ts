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
import { graphArtifacts, randomizeWeights, tinyLayersModel } from '../support/tiny-nets';

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
  t.match(net.fallbacks[0], /ELU/, 'the ELU layer is the fallback');
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
