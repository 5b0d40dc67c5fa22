/**
 * loss=margin (C&W): the direction is the gradient of min(z_cls - max_{j != cls} z_j, kappa),
 * checked against finite differences in the tfjs runtime and against tfjs in onnxruntime; it
 * stops at kappa; a margin request gets the same bytes alone and in a mixed batch.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { batchDirections, type GradRequest } from '../../src/engine/gradients';
import { loadPasses } from '../../src/engine/load-passes';
import type { ImageRequest, ModelPasses } from '../../src/engine/passes';
import { folderSaveHandler } from '../../src/models/folder-io';
import { onnxRuntime } from '../../src/models/onnx/net';
import { readFolderSpec } from '../../src/models/registry';
import { agreesWithFiniteDifferences, cosine } from '../support/compare';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';
import { randomizeWeights, tinyLayersModel } from '../support/tiny-nets';

t.before(() => useBackend());

const margin = (logits: ArrayLike<number>, cls: number, kappa: number) => {
  const others = Math.max(...Array.from(logits).filter((_, j) => j !== cls));
  return Math.min(logits[cls] - others, kappa);
};


t.test('tfjs: margin direction = d margin / dx (finite differences), towards and away; zero once kappa is reached', async (t) => {
  const model = tinyClassifier('fd-margin', 13);
  const base = Float32Array.from(tinyImage(12, 10, 9).rgb);
  const logitsAt = (x: Float32Array) => tf.tidy(() => model.logits(tf.tensor4d(x, [1, 10, 12, 3])).dataSync());
  const z = logitsAt(base);
  const weakest = Array.from(z).indexOf(Math.min(...z));
  const req = (towards: boolean, kappa: number): GradRequest => ({ image: base, height: 10, width: 12, cls: weakest, towards, margin: kappa });
  const [towards] = batchDirections(model, [req(true, 50)]);
  agreesWithFiniteDifferences(t, towards, base, (x) => margin(logitsAt(x), weakest, 50), 5);
  const [away] = batchDirections(model, [req(false, 50)]);
  t.same(Array.from(away), Array.from(towards).map((v) => -v), 'away: the opposite sign');
  const [logit] = batchDirections(model, [{ ...req(true, 50), margin: undefined, logit: true }]);
  const c = cosine(logit, towards);
  t.ok(c < 0.99, `not the logit direction (cosine ${c.toFixed(4)})`);
  // The weakest class trails: with kappa below its (negative) margin the score is flat at kappa.
  const [stopped] = batchDirections(model, [req(true, margin(z, weakest, 1e9) - 1)]);
  t.ok(stopped.every((v) => v === 0), 'kappa reached: zero gradient');
  model.dispose();
});

t.test('tfjs: a margin request gets the same bytes alone and in a batch with ce and logit requests', async (t) => {
  const model = tinyClassifier('batch-margin', 5);
  const reqs: GradRequest[] = [
    { image: Float32Array.from(tinyImage(12, 10, 1).rgb), height: 10, width: 12, cls: 0, towards: true },
    { image: Float32Array.from(tinyImage(7, 9, 2).rgb), height: 9, width: 7, cls: 3, towards: false, margin: 2 },
    { image: Float32Array.from(tinyImage(12, 10, 4).rgb), height: 10, width: 12, cls: 2, towards: true, logit: true },
    { image: Float32Array.from(tinyImage(16, 16, 3).rgb), height: 16, width: 16, cls: 1, towards: true, margin: 30 },
  ];
  const together = batchDirections(model, reqs);
  reqs.forEach((r, i) => t.same(Buffer.from(batchDirections(model, [r])[0].buffer), Buffer.from(together[i].buffer), `request ${i}`));
  model.dispose();
});

t.test('onnxruntime: margin directions agree with tfjs and with finite differences', { skip: onnxRuntime() ? false : 'onnxruntime-node is not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-margin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const model = tinyLayersModel(false);
  randomizeWeights(model, 7);
  await model.save(folderSaveHandler(dir));
  model.dispose();
  writeFileSync(join(dir, 'advserve.json'), JSON.stringify({ id: 'tiny_net', labels: ['a', 'b', 'c'], inputSize: [9, 10], inputRange: [0, 1] }));
  const spec = await readFolderSpec(dir);
  const quiet = { info: () => {}, warn: () => {} };
  const opts = { backend: 'wasm', threads: 1, microBatch: Infinity };
  const onnx: ModelPasses = (await loadPasses(spec, quiet, { ...opts, runtime: 'onnx' })).passes;
  const tfjs: ModelPasses = (await loadPasses(spec, quiet, { ...opts, runtime: 'tfjs' })).passes;
  t.teardown(async () => {
    await onnx.dispose();
    await tfjs.dispose();
  });
  const image = Float32Array.from(tinyImage(14, 11, 3).rgb);
  const at: ImageRequest = { image, height: 11, width: 14 };
  const [p] = await tfjs.probabilities([at]);
  const logp = (q: Float32Array) => Array.from(q, Math.log);
  // The margin from probabilities: log p_c - log p_j = z_c - z_j.
  const reqs: GradRequest[] = [0, 1, 2].map((cls) => ({ ...at, cls, towards: cls !== 1, margin: 40 }));
  const a = await onnx.directions(reqs);
  const b = await tfjs.directions(reqs);
  reqs.forEach((r, i) => {
    const c = cosine(a[i], b[i]);
    t.ok(c > 0.999, `class ${r.cls}: cosine with the tfjs direction ${c.toFixed(6)}`);
  });
  t.ok(cosine(a[0], a[2]) < 0.99, 'different classes, different directions');
  const f = async (x: Float32Array) => margin(logp((await onnx.probabilities([{ ...at, image: x }]))[0]), 0, 40);
  let worst = 0;
  let checked = 0;
  for (let i = 0; i < image.length; i += 9) {
    const plus = image.slice();
    const minus = image.slice();
    plus[i] += 0.25;
    minus[i] -= 0.25;
    const fd = ((await f(plus)) - (await f(minus))) / 0.5;
    worst = Math.max(worst, Math.abs(a[0][i] - fd) / (1e-4 + Math.abs(fd)));
    checked++;
  }
  t.ok(worst < 0.05, `onnx margin gradient vs finite differences over ${checked} coordinates: worst relative error ${worst.toFixed(4)}`);
  t.ok(margin(logp(p), 0, 1e9) < 40, 'kappa not reached: the gradient is live');
});
