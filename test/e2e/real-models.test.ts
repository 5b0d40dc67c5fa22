/**
 * End to end on the three real bundled classifiers (wasm backend, as CI runs it; networks in
 * onnxruntime and in tfjs): the seed's attack at its own settings must reach the target on
 * every member of the ensemble.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import { decodeImage } from '../../src/images/decode';
import { testPhoto } from '../support/photo';

const log = { info: () => {}, warn: () => {}, error: (o: object, m: string) => console.error(m, o) };

for (const runtime of ['onnx', 'tfjs'] as const) t.test(`${runtime}: targeted mng-l1 at eps 16 reaches the target on every model`, async (t) => {
  const engine = await createEngine(loadConfig({ ADVSERVE_BACKEND: 'wasm', ADVSERVE_RUNTIME: runtime }), log);
  t.teardown(() => engine.dispose());
  t.equal(engine.backend, runtime === 'onnx' ? 'onnxruntime' : 'wasm');
  t.same(engine.listModels().map((m) => m.id), ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid']);
  const photo = await testPhoto();
  const image = await decodeImage(photo.bytes, { maxPixels: 25_000_000 });
  const clean = await engine.classify(image, { topK: 5 });
  const drawing = engine.labels().indexOf('Drawing');
  t.not(clean.ensemble.top[0].index, drawing, `${photo.name} is not a Drawing to begin with`);

  const before = tf.memory().numTensors;
  const out = await engine.attack(image, { method: 'mng-l1', eps: 16, iterations: 20, targeted: true, target: drawing });
  t.equal(tf.memory().numTensors, before, 'no tensor leaks across a real attack');
  t.equal(out.success, true, 'ensemble success');
  t.ok(out.linf <= 16 && out.linf > 0, `linf ${out.linf}`);
  // Re-classify the returned 8-bit image from scratch: every member must say Drawing.
  const check = await engine.classify(out.image, { topK: 1 });
  for (const m of check.models) t.equal(m.top[0].label, 'Drawing', `${m.id} says ${m.top[0].label}`);
  t.comment(`attack took ${out.elapsedMs} ms on ${photo.name} (${image.width}x${image.height})`);
});
