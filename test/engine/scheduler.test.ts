/**
 * Continuous batching: jobs share passes without changing their results, cancelled jobs leave
 * the queue, a failing batch fails only its jobs, and old jobs are not starved by new ones.
 */
import t from 'tap';
import sharp from 'sharp';
import { Engine } from '../../src/engine/engine';
import type { GradRequest } from '../../src/engine/gradients';
import { LocalRunner, type GradientRunner, type ImageRequest } from '../../src/engine/runner';
import { BatchScheduler } from '../../src/engine/scheduler';
import { ATTACK_METHODS, type AttackParams } from '../../src/engine/types';
import type { ModelSpec } from '../../src/models/types';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';

t.before(() => useBackend());

function engine(maxBatch = 8): Engine {
  const runner = new LocalRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  runner.add(tinyClassifier('m2', 2));
  return new Engine(runner, { maxBatch });
}

const png = (img: { width: number; height: number; rgb: Uint8Array }) =>
  sharp(Buffer.from(img.rgb), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();

for (const method of ATTACK_METHODS) {
  t.test(`${method}: alone and among 7 concurrent jobs, the same PNG bytes`, async (t) => {
    const params: AttackParams = { method, eps: 12, iterations: 10, targeted: true, target: 1, di: method === 'mi-fgsm', ti: method === 'mi-fgsm' ? 3 : undefined, seed: 5 };
    const image = tinyImage(12, 10, 21);
    const alone = await engine().attack(image, params);

    const e = engine();
    const others = Array.from({ length: 7 }, (_, i) =>
      e.attack(tinyImage(9 + i, 8 + (i % 3), 100 + i), { method: ATTACK_METHODS[i % ATTACK_METHODS.length], eps: 4 + i, iterations: 3 + 2 * i, targeted: i % 2 === 0, target: i % 4, seed: i }),
    );
    const shared = e.attack(image, params);
    await Promise.all(others);
    const together = await shared;
    t.ok(e.metrics.batchSize.mean > 1.5, `passes were shared (mean batch ${e.metrics.batchSize.mean.toFixed(2)})`);
    t.same(await png(together.image), await png(alone.image), 'identical bytes');
  });
}

t.test('a job cancelled mid-attack leaves the queue and the others finish', async (t) => {
  const e = engine(4);
  const ac = new AbortController();
  const victim = e.attack(tinyImage(12, 10, 1), { method: 'mng-l1', eps: 8, iterations: 1000, targeted: true, target: 2, signal: ac.signal });
  const others = [2, 3, 4].map((s) => e.attack(tinyImage(12, 10, s), { method: 'ifgsm', eps: 8, iterations: 30, targeted: true, target: 1 }));
  setTimeout(() => ac.abort(new Error('client went away')), 30);
  await t.rejects(victim, { name: 'AbortedError' } as object as Error);
  const done = await Promise.all(others);
  t.equal(done.length, 3, 'the other jobs finished');
  t.equal(e.scheduler.depth, 0, 'nothing left queued');
  t.equal(e.metrics.jobs.get({ kind: 'attack', outcome: 'cancelled' }), 1);
  t.equal(e.metrics.jobs.get({ kind: 'attack', outcome: 'finished' }), 3);
  t.match(e.metricsText(), /advserve_jobs_total\{kind="attack",outcome="cancelled"\} 1/);
});

/** A runner whose passes complete only when the test says so, recording each batch. */
class ManualRunner implements GradientRunner {
  constructor(readonly slots = 1) {}
  readonly backend = 'manual';
  batches: { model: string; size: number; classes: number[] }[] = [];
  private release: (() => void)[] = [];
  fail = false;
  specs(): ModelSpec[] {
    return [];
  }
  directions(model: string, reqs: GradRequest[]): Promise<Float32Array[]> {
    this.batches.push({ model, size: reqs.length, classes: reqs.map((r) => r.cls) });
    return new Promise((resolve, reject) =>
      this.release.push(() => (this.fail ? reject(new Error('boom')) : resolve(reqs.map((r) => new Float32Array([r.cls]))))),
    );
  }
  probabilities(_m: string, reqs: ImageRequest[]): Promise<Float32Array[]> {
    return Promise.resolve(reqs.map(() => new Float32Array(1)));
  }
  async dispose(): Promise<void> {}
  finishOne(): void {
    this.release.shift()?.();
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const req = (cls: number): GradRequest => ({ image: new Float32Array(3), height: 1, width: 1, cls, towards: true });

t.test('FIFO batches: requests that wait longest go first, up to maxBatch', async (t) => {
  const runner = new ManualRunner();
  const s = new BatchScheduler(runner, { maxBatch: 2, maxWaitMs: 0 });
  const results = [0, 1, 2, 3, 4].map((c) => s.direction('a', req(c)));
  await tick();
  t.same(runner.batches, [{ model: 'a', size: 2, classes: [0, 1] }], 'first pass takes the two oldest');
  // A new job arrives while the pass runs: it queues behind the older ones.
  const late = s.direction('a', req(9));
  runner.finishOne();
  await tick();
  await tick();
  t.same(runner.batches[1].classes, [2, 3]);
  runner.finishOne();
  await tick();
  await tick();
  t.same(runner.batches[2].classes, [4, 9]);
  runner.finishOne();
  t.same((await Promise.all([...results, late])).map((r) => r[0]), [0, 1, 2, 3, 4, 9], 'each request gets its own result');
});

t.test('with two workers free, a queue is shared out between them', async (t) => {
  const runner = new ManualRunner(2);
  const s = new BatchScheduler(runner, { maxBatch: 8, maxWaitMs: 0 });
  const all = [0, 1, 2, 3, 4].map((c) => s.direction('a', req(c)));
  await tick();
  t.same(runner.batches.map((b) => b.classes), [[0, 1, 2], [3, 4]], 'ceil(5/2) then the rest');
  runner.finishOne();
  runner.finishOne();
  t.same((await Promise.all(all)).map((r) => r[0]), [0, 1, 2, 3, 4]);
});

t.test('across models, the queue whose head waited longest runs next', async (t) => {
  let now = 0;
  const runner = new ManualRunner();
  const s = new BatchScheduler(runner, { maxBatch: 8, maxWaitMs: 0, now: () => now });
  const first = s.direction('a', req(0));
  await tick();
  now = 10;
  const b = s.direction('b', req(1));
  now = 20;
  const a2 = s.direction('a', req(2));
  runner.finishOne();
  await tick();
  await tick();
  t.same(runner.batches.map((x) => x.model), ['a', 'b'], 'b waited longer than the second a');
  runner.finishOne();
  await tick();
  await tick();
  runner.finishOne();
  await Promise.all([first, b, a2]);
});

t.test('maxWaitMs holds a lone request back for company, using the injected clock', async (t) => {
  let now = 0;
  const timers: { fn: () => void; ms: number }[] = [];
  const runner = new ManualRunner();
  const s = new BatchScheduler(runner, { maxBatch: 4, maxWaitMs: 50, now: () => now, setTimer: (fn, ms) => timers.push({ fn, ms }) });
  const p1 = s.direction('a', req(1));
  await tick();
  t.equal(runner.batches.length, 0, 'waits');
  t.equal(timers[0]?.ms, 50);
  now = 20;
  const p2 = s.direction('a', req(2));
  await tick();
  now = 50;
  timers.shift()!.fn();
  t.same(runner.batches, [{ model: 'a', size: 2, classes: [1, 2] }], 'both went in one pass');
  runner.finishOne();
  await Promise.all([p1, p2]);
});

t.test('a failing pass fails its jobs only; the scheduler keeps serving', async (t) => {
  const runner = new ManualRunner();
  const s = new BatchScheduler(runner, { maxBatch: 2, maxWaitMs: 0 });
  const doomed = [s.direction('a', req(0)), s.direction('a', req(1))];
  const fine = s.direction('a', req(2));
  await tick();
  runner.fail = true;
  runner.finishOne();
  for (const d of doomed) await t.rejects(d, { message: 'boom' });
  runner.fail = false;
  await tick();
  await tick();
  runner.finishOne();
  t.same(Array.from(await fine), [2]);
});

t.test('beyond maxJobs the engine answers 429 with Retry-After', async (t) => {
  const runner = new LocalRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  const e = new Engine(runner, { maxJobs: 1 });
  const first = e.attack(tinyImage(12, 10, 1), { method: 'ifgsm', eps: 8, iterations: 5, targeted: true, target: 1 });
  await t.rejects(e.attack(tinyImage(12, 10, 2), { method: 'ifgsm', eps: 8, iterations: 5, targeted: true, target: 1 }), {
    status: 429,
    type: 'queue-full',
  } as object as Error);
  await first;
  t.equal(e.metrics.jobs.get({ kind: 'attack', outcome: 'rejected' }), 1);
});
