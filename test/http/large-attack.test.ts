/**
 * The real engine (tiny classifiers, wasm backend) behind the HTTP app: the largest attack the
 * default limit admits runs, and a small attack after it still works (the wasm heap is intact);
 * the engine refuses an image over its attack limit itself, whoever calls it.
 */
import t, { type Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import request from 'supertest';
import sharp from 'sharp';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { Engine } from '../../src/engine/engine';
import { engineOptions } from '../../src/engine/bootstrap';
import { LocalRunner } from '../../src/engine/runner';
import { ApiError } from '../../src/errors';
import { makePng, pngWithHeaderSize } from '../images/fixtures';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';
import { isProblem } from './helpers';

t.before(() => useBackend());

async function realApp(t: Test) {
  const config = loadConfig({});
  const runner = new LocalRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  runner.add(tinyClassifier('m2', 2));
  const engine = new Engine(runner, engineOptions(config), 'wasm');
  const app = await buildApp({ engine, config, logger: false });
  t.teardown(async () => {
    await app.close();
    await engine.dispose();
  });
  return { server: app.server, engine, config };
}

/** A smooth 2048 x 2048 PNG (rows alike): the default attack limit exactly. */
async function largestAdmitted(): Promise<Buffer> {
  const width = 2048;
  const raw = Buffer.alloc(width * width * 3);
  for (let x = 0; x < width; x++) raw.fill(40 + (x % 176), x * 3, x * 3 + 3);
  for (let y = 1; y < width; y++) raw.copyWithin(y * width * 3, 0, width * 3);
  return sharp(raw, { raw: { width, height: width, channels: 3 } }).png().toBuffer();
}

t.test('the largest admitted attack, then a small one: both 200, no tensor left behind', async (t) => {
  const { server } = await realApp(t);
  const tensors = tf.memory().numTensors;
  const large = await request(server)
    .post('/v1/attack/targeted?target=a&iterations=2')
    .set('Content-Type', 'image/png')
    .send(await largestAdmitted());
  t.equal(large.status, 200, large.status === 200 ? 'large attack' : String(large.body));
  const meta = await sharp(large.body as Buffer).metadata();
  t.equal(meta.width, 2048);
  t.equal(meta.height, 2048);
  t.equal(tf.memory().numTensors, tensors, 'every tensor of the large attack freed');

  const small = await request(server).post('/v1/attack/untargeted?iterations=3').set('Content-Type', 'image/png').send(await makePng(12, 10));
  t.equal(small.status, 200, 'a small attack after it works');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=a').set('Content-Type', 'image/png').send(await pngWithHeaderSize(2049, 2048)), 413, 'image-too-large', 'image');
});

t.test('the engine refuses an attack over its limit, and counts nothing for it', async (t) => {
  const { engine } = await realApp(t);
  const e = new Engine(engine.runner, { maxAttackPixels: 100, maxInflightPixels: 150 }, 'wasm');
  const refused = await e.attack(tinyImage(11, 10, 1), { method: 'fgsm', eps: 8, iterations: 1, targeted: true, target: 0 }).catch((err: unknown) => err);
  t.ok(refused instanceof ApiError, 'an ApiError');
  t.match(refused, { status: 413, type: 'image-too-large', message: /11x10 = 110 pixels; attacks take at most 100 pixels/ });
  const ok = await e.attack(tinyImage(10, 10, 1), { method: 'fgsm', eps: 8, iterations: 1, targeted: true, target: 0 });
  t.equal(ok.image.width, 10);
  t.equal(e.admission.jobs, 0);
  t.equal(e.admission.pixels, 0);
});

t.test('in-process callers (no ticket) wait for the pixel budget instead of failing; the output does not depend on it', async (t) => {
  const { engine } = await realApp(t);
  const e = new Engine(engine.runner, { maxAttackPixels: 100, maxInflightPixels: 150 }, 'wasm');
  const params = { method: 'mng-l1' as const, eps: 8, iterations: 3, targeted: true, target: 1 };
  const alone = await e.attack(tinyImage(10, 10, 2), params);
  const first = e.attack(tinyImage(10, 10, 1), params);
  t.equal(e.admission.pixels, 100, 'the first attack holds its pixels');
  const second = e.attack(tinyImage(10, 10, 2), params);
  t.equal(e.admission.jobs, 2, 'both admitted');
  t.equal(e.admission.pixels, 100, 'the second waits for pixels');
  t.match(e.metricsText(), /^advserve_attack_pixels_inflight 100$/m, 'the gauge in /metrics');
  const [, waited] = await Promise.all([first, second]);
  t.same(Buffer.from(waited.image.rgb), Buffer.from(alone.image.rgb), 'same bytes as alone');
  t.equal(e.admission.jobs, 0);
  t.equal(e.admission.pixels, 0);

  // A waiting attack whose caller gives up leaves the queue and frees its slot.
  const holder = e.attack(tinyImage(10, 10, 1), params);
  const controller = new AbortController();
  const given = e.attack(tinyImage(10, 10, 2), { ...params, signal: controller.signal }).catch((err: unknown) => err);
  controller.abort(new Error('gave up'));
  t.match(await given, { message: 'gave up' });
  await holder;
  t.equal(e.admission.jobs, 0);
  t.equal(e.admission.pixels, 0);
});
