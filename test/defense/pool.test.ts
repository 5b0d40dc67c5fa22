/**
 * The transform threads: the same bytes as the in-process chain, and cancellation (a queued task
 * leaves the queue, a running one's thread is replaced, and the pool goes on serving).
 */
import t from 'tap';
import { applyChain, type ChainTask } from '../../src/defense/chain';
import { parseDefense } from '../../src/defense/parse';
import { TransformPool } from '../../src/defense/pool/transform-pool';
import { seededRandom } from '../../src/engine/random';
import type { RgbImage } from '../../src/images/types';

function randomImage(width: number, height: number, seed: number, alpha = false): RgbImage {
  const rnd = seededRandom(seed);
  // a smooth ramp plus noise, inside a larger buffer: the image is a view, as decoded ones can be
  const backing = new Uint8Array(width * height * 3 + 64);
  const rgb = backing.subarray(32, 32 + width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.min(255, Math.floor(((i / 3) % width) * (200 / width) + rnd() * 56));
  const img: RgbImage = { width, height, rgb };
  if (alpha) img.alpha = Uint8Array.from({ length: width * height }, (_, i) => i % 256);
  return img;
}

const MODELS = ['m224', 'm299'];
const chain = (spec: string) => parseDefense(`${spec}+m224`, MODELS).transforms;

t.test('the worker gives the same bytes as the in-process chain', async (t) => {
  const pool = new TransformPool(1);
  t.teardown(() => pool.close());
  const images = [randomImage(37, 23, 1), randomImage(64, 48, 2, true), randomImage(5, 9, 3)];
  const specs = ['bits3', 'median2', 'median3', 'median5', 'median7', 'blur0.5', 'blur1.5', 'jpeg10', 'jpeg75', 'resize-pad', 'median3+jpeg75+resize-pad', 'blur1+bits3', 'resize-pad+median7'];
  for (const [i, image] of images.entries()) {
    for (const spec of specs) {
      for (const inputSize of [[224, 224], [299, 299]] as [number, number][]) {
        const task: ChainTask = { image, steps: chain(spec), seed: 1000 + i, inputSize };
        const [worker, local] = await Promise.all([pool.run(task), applyChain(task)]);
        const what = `${spec} on ${image.width}x${image.height}${image.alpha ? ' with alpha' : ''}, model ${inputSize[0]}`;
        t.same([worker.width, worker.height], [local.width, local.height], `${what}: size`);
        t.ok(Buffer.from(worker.rgb).equals(Buffer.from(local.rgb)), `${what}: same bytes`);
        t.equal(worker.alpha === undefined, local.alpha === undefined, `${what}: alpha kept or dropped alike`);
        if (local.alpha) t.ok(Buffer.from(worker.alpha!).equals(Buffer.from(local.alpha)), `${what}: same alpha`);
      }
    }
  }
  t.ok(images[0].rgb.byteOffset === 32 && images[0].rgb.length === 37 * 23 * 3, "the caller's image is left as it was");
});

t.test('cancelling: a running task ends its thread at once, a queued one never runs; the pool goes on', async (t) => {
  const pool = new TransformPool(1);
  t.teardown(() => pool.close());
  const small: ChainTask = { image: randomImage(8, 8, 4), steps: chain('bits1'), seed: 0, inputSize: [224, 224] };
  const expected = await applyChain(small);
  await pool.run(small);
  const before = pool.threadIds;
  t.equal(before.length, 1, 'one thread started');

  // ~4 x 2 s of median5 on a megapixel of noise: only a terminated thread stops it early.
  const heavy: ChainTask = { image: randomImage(1000, 1000, 5), steps: chain('median5+median5+median5+median5'), seed: 0, inputSize: [224, 224] };
  const running = new AbortController();
  const queued = new AbortController();
  const started = performance.now();
  const a = pool.run(heavy, running.signal);
  const b = pool.run(heavy, queued.signal);
  setTimeout(() => {
    queued.abort(new Error('gone'));
    running.abort(new Error('deadline'));
  }, 300);
  const [ra, rb] = await Promise.allSettled([a, b]);
  const ms = performance.now() - started;
  t.match(ra, { status: 'rejected', reason: { name: 'AbortError' } });
  t.match(rb, { status: 'rejected', reason: { name: 'AbortError' } });
  t.ok(ms < 2000, `both settled after ${ms.toFixed(0)} ms`);
  const next = performance.now();
  const out = await pool.run(small);
  t.ok(performance.now() - next < 3000, `the next task ran after ${(performance.now() - next).toFixed(0)} ms, not after the cancelled ones`);
  t.ok(Buffer.from(out.rgb).equals(Buffer.from(expected.rgb)), 'and is right');
  t.equal(pool.threadIds.length, 1);
  t.notSame(pool.threadIds, before, 'on a new thread');

  const aborted = new AbortController();
  aborted.abort(new Error('already'));
  await t.rejects(pool.run(small, aborted.signal), /already/, 'an aborted signal never reaches the pool');
});

t.test('a closed pool starts no thread', async (t) => {
  const pool = new TransformPool(1);
  t.same(pool.threadIds, [], 'none before the first task');
  await pool.close();
  await t.rejects(pool.run({ image: randomImage(2, 2, 6), steps: chain('bits1'), seed: 0, inputSize: [224, 224] }), /closed/);
  t.same(pool.threadIds, []);
});
