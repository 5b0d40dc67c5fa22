/**
 * A user's own model from a folder: the test builds a small conv net, saves it as tfjs files
 * plus advserve.json, loads it the way the service does (ADVSERVE_MODEL_DIRS), and attacks it.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import { folderSaveHandler } from '../../src/models/folder-io';
import { loadModel, readFolderSpec } from '../../src/models/registry';
import { graphArtifacts } from '../support/tiny-nets';
import { tinyImage, useBackend } from '../support/tiny';

const log = { info: () => {}, warn: () => {}, error: () => {} };

async function saveTinyConvNet(dir: string): Promise<tf.LayersModel> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization({ gammaInitializer: tf.initializers.constant({ value: 1.5 }), movingMeanInitializer: tf.initializers.constant({ value: 0.1 }) }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  await model.save(folderSaveHandler(dir));
  writeFileSync(join(dir, 'advserve.json'), JSON.stringify({ id: 'tiny_conv', labels: ['cat', 'dog', 'fox'], inputSize: [16, 16], inputRange: [-1, 1] }));
  return model;
}

t.before(() => useBackend());

t.test('a saved LayersModel folder loads, matches the original, and can be attacked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const original = await saveTinyConvNet(dir);
  const spec = await readFolderSpec(dir);
  t.match(spec, { id: 'tiny_conv', format: 'layers', inputSize: [16, 16], inputRange: [-1, 1], labels: ['cat', 'dog', 'fox'] });

  const engine = await createEngine({ ...loadConfig({ ADVSERVE_BACKEND: 'wasm' }), bundledModels: [], modelDirs: [dir], workers: 0 }, log);
  t.teardown(() => engine.dispose());
  t.same(engine.listModels().map((m) => m.id), ['tiny_conv']);

  // Same probabilities as the original model on the same 16x16 input mapped to [-1, 1].
  const image = tinyImage(16, 16, 3);
  const expected = tf.tidy(() => (original.predict(tf.tensor4d(Float32Array.from(image.rgb), [1, 16, 16, 3]).div(127.5).sub(1)) as tf.Tensor).dataSync());
  const got = await engine.classify(image, { topK: 3 });
  for (const p of got.models[0].top) t.ok(Math.abs(p.prob - expected[p.index]) < 1e-5, `${p.label}: ${p.prob} vs ${expected[p.index]}`);

  const target = got.ensemble.top[2].index;
  const out = await engine.attack(image, { method: 'mng-l1', eps: 32, iterations: 30, targeted: true, target });
  t.equal(out.success, true, `reached ${out.target.label}`);
});

t.test('a folder without a usable advserve.json is refused with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await saveTinyConvNet(dir);
  writeFileSync(join(dir, 'advserve.json'), JSON.stringify({ labels: ['only-one'], inputSize: [16], inputRange: [1, 0] }));
  const err = await readFolderSpec(dir).then(() => undefined, (e: Error) => e);
  t.match(err?.message, /advserve\.json: /);
  t.match(err?.message, /field "labels": has 1 class\(es\); must be an array of at least 2 strings/);
  t.match(err?.message, /field "inputSize": must be \[height, width\]/);
  t.match(err?.message, /field "inputRange": must be \[low, high\] with low < high/);
});

t.test('a graph model the compiler cannot take (plain tfjs fallback) still gets the head: background dropped, gradient on wasm', async (t) => {
  await useBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'advserve-plainhead-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const artifacts = graphArtifacts('Erf'); // 4 softmax outputs; Erf is outside the compiler
  await folderSaveHandler(dir).save!(artifacts);
  writeFileSync(join(dir, 'advserve.json'), JSON.stringify({ id: 'plain_bg', labels: ['background', 'a', 'b', 'c'], background: true, inputSize: [9, 8], inputRange: [0, 1] }));
  const spec = await readFolderSpec(dir);
  const warnings: string[] = [];
  const loaded = await loadModel(spec, { info: () => {}, warn: (_o: object, m: string) => warnings.push(m) });
  t.teardown(() => loaded.classifier.dispose());
  t.same(loaded.fallbacks, ['whole model'], 'runs as the plain model');
  t.match(warnings, [/fast compiler cannot handle this graph/]);
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const x = tf.tidy(() => tf.mul(tf.randomUniform([1, 9, 8, 3], 0, 1, 'float32', 3), 255)) as tf.Tensor4D;
  const ours = tf.tidy(() => tf.softmax(loaded.classifier.logits(x)).dataSync() as Float32Array);
  const probs = tf.tidy(() => (model.predict(tf.div(x, 255)) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  const rest = probs.slice(1);
  const sum = rest.reduce((a, v) => a + v, 0);
  t.equal(ours.length, 3, 'three classes: the background output is dropped');
  for (let i = 0; i < 3; i++) t.ok(Math.abs(ours[i] - rest[i] / sum) < 1e-5, `class ${i}: ${ours[i].toFixed(5)} = renormalised ${(rest[i] / sum).toFixed(5)}`);
  const g = tf.tidy(() => tf.grad((img) => tf.sum(loaded.classifier.logits(img as tf.Tensor4D)))(x).abs().sum().dataSync()[0]);
  t.ok(g > 0 && Number.isFinite(g), 'input gradient through the head on wasm');
  x.dispose();
});
