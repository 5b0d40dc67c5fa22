/**
 * The three classifiers bundled in nsfwjs, compiled, on wasm: softmax(compiled forward) equals
 * model.predict on a random batch of 2, nothing falls back, the input gradient of
 * sum(logits[:, target]) is finite, nonzero and agrees with a directional finite difference
 * (bench/net-refgrad.ts also compared it with tfjs' own gradient on cpu: cosine > 0.99999),
 * and forward + gradient leaks no tensors.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BundledName, loadBundledArtifacts } from '../../src/models/bundled';
import { CompiledNet, compileGraphModel, compileLayersModel } from '../../src/models/net/compile';

const MODELS: Array<{ name: BundledName; size: number; graph: boolean }> = [
  { name: 'MobileNetV2Mid', size: 224, graph: true },
  { name: 'MobileNetV2', size: 224, graph: false },
  { name: 'InceptionV3', size: 299, graph: false },
];

t.before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

for (const m of MODELS) {
  t.test(m.name, async (t) => {
    const artifacts = await loadBundledArtifacts(m.name);
    const model = m.graph ? await tf.loadGraphModel(tf.io.fromMemory(artifacts)) : await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const x = tf.randomUniform([2, m.size, m.size, 3], 0, 1, 'float32', 42) as tf.Tensor4D;
    const expected = model.predict(x) as tf.Tensor2D;
    const net: CompiledNet = m.graph ? compileGraphModel(model as tf.GraphModel, artifacts) : compileLayersModel(model as tf.LayersModel);
    t.same(net.fallbacks, [], 'no fallbacks');
    t.equal(net.endsInSoftmax, true, 'ends in softmax');

    const got = tf.tidy(() => tf.softmax(net.forward(x)));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]);
    t.ok(diff < 1e-4, `softmax(compiled forward) equals predict: max |diff| ${diff.toExponential(2)}`);
    t.same(got.shape, expected.shape, `output shape ${expected.shape}`);

    // Input gradient of the target logit, checked along a random direction.
    const target = 1;
    const loss = (z: tf.Tensor) => tf.sum(tf.slice(net.forward(z as tf.Tensor4D), [0, target], [-1, 1]));
    const g = tf.tidy(() => tf.grad(loss)(x));
    const [finite, norm] = tf.tidy(() => [tf.all(tf.isFinite(g)).dataSync()[0], tf.norm(g).dataSync()[0]]);
    t.equal(finite, 1, 'gradient is finite');
    t.ok(norm > 0, `gradient is nonzero (norm ${norm.toExponential(2)})`);
    // Along v = sign(gradient) the first-order change is large (sum of |g|), so a central
    // difference with a tiny step (1e-5 per pixel, few ReLU kinks crossed) must agree with g.v.
    // (A random direction gives g.v near 0, lost in float32 noise and kinks.)
    const v = tf.sign(g);
    const e = 1e-5;
    const fd = tf.tidy(() => (loss(tf.add(x, tf.mul(v, e))).dataSync()[0] - loss(tf.sub(x, tf.mul(v, e))).dataSync()[0]) / (2 * e));
    const dot = tf.tidy(() => tf.sum(tf.mul(g, v)).dataSync()[0]);
    const rel = Math.abs(fd - dot) / Math.abs(dot);
    t.ok(rel < 0.02, `directional derivative along sign(g): g.v ${dot.toExponential(4)} vs finite difference ${fd.toExponential(4)} (rel ${rel.toExponential(1)})`);

    const before = tf.memory().numTensors;
    tf.tidy(() => {
      tf.grad(loss)(x).dataSync();
    });
    t.equal(tf.memory().numTensors, before, 'forward + gradient inside tidy leaks no tensors');

    tf.dispose([x, expected, got, g, v]);
    net.dispose();
  });
}
