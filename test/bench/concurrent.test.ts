/**
 * The bench's concurrency section (bench/concurrent.ts) on an engine of two tiny models: each
 * job's output hashed in both modes, batching seen in the concurrent mode, and the figures
 * derived from the two walls.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Engine } from '../../src/engine/engine';
import { LocalRunner } from '../../src/engine/runner';
import { runConcurrency } from '../../bench/concurrent';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';

t.before(() => useBackend('wasm'));

t.test('runConcurrency: same jobs in sequence and at once, per-job hashes, batched passes', async (t) => {
  const runner = new LocalRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  runner.add(tinyClassifier('m2', 2));
  const engine = new Engine(runner);
  t.teardown(() => engine.dispose());
  const images = [0, 1, 2].map((i) => tinyImage(24, 16, 10 + i));
  const r = await runConcurrency(engine, images, 3, ['m1', 'm2'], [0, 1, 2, 3]);

  t.equal(r.jobs, 3);
  t.same(r.models, ['m1', 'm2']);
  t.equal(r.sequential.outputSha256.length, 3);
  t.equal(new Set(r.sequential.outputSha256).size, 3, 'different images give different outputs');
  t.equal(r.identical, true, 'batched with others, each job gives the bytes it gave alone');
  t.same(r.concurrent.outputSha256, r.sequential.outputSha256);
  t.equal(r.sequential.meanBatch, 1, 'one job at a time: batches of one');
  t.ok(r.concurrent.meanBatch > 1, `at once: batched passes (mean ${r.concurrent.meanBatch})`);
  t.equal(r.throughputRatio, r.sequential.wallMs / r.concurrent.wallMs);
  t.equal(r.concurrentImageStepsPerS, (3 * 3 * 1000) / r.concurrent.wallMs);

  // The hash is of the attack's output pixels: the same job run directly gives it again.
  const again = await engine.attack(images[1], { method: 'mng-l1', eps: 16, iterations: 3, targeted: true, target: 1, models: ['m1', 'm2'], seed: 1 });
  t.equal(createHash('sha256').update(again.image.rgb).digest('hex'), r.sequential.outputSha256[1]);
});
