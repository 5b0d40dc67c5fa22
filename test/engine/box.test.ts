import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { clipToBox, insideBox } from '../../src/engine/attacks/box';
import { seededRandom } from '../../src/engine/random';
import { useBackend } from '../support/tiny';

t.before(() => useBackend());

/** A box around random pixels, and points inside, outside and exactly on its faces. */
function cases(n: number) {
  const rand = seededRandom(7);
  const clean = Array.from({ length: n }, () => Math.round(rand() * 255));
  const eps = 16 * rand() + 0.5;
  const lower = clean.map((c) => Math.max(c - eps, 0));
  const upper = clean.map((c) => Math.min(c + eps, 255));
  const x = clean.map((c, i) => {
    const k = i % 5;
    if (k === 0) return lower[i]; // on the lower face
    if (k === 1) return upper[i]; // on the upper face
    return c + (rand() - 0.5) * 80 + rand() * 1e-3; // inside or outside, fractional
  });
  const tensor = (v: number[]) => tf.tensor4d(v, [1, 1, n / 3, 3]);
  return { x: tensor(x), lower: tensor(lower), upper: tensor(upper) };
}

t.test('clipToBox gives the bytes of min(max(x, lower), upper)', async (t) => {
  const { x, lower, upper } = cases(3000);
  const want = tf.minimum(tf.maximum(x, lower), upper).dataSync();
  const got = clipToBox(x, lower, upper).dataSync();
  t.same(Array.from(got), Array.from(want));
  // Some values were clipped on each side, and some kept: the case exercises every branch.
  const xs = x.dataSync(), lo = lower.dataSync(), hi = upper.dataSync();
  t.ok(xs.some((v, i) => v < lo[i]) && xs.some((v, i) => v > hi[i]) && xs.some((v, i) => v > lo[i] && v < hi[i]));
});

t.test('insideBox matches logicalAnd(x >= lower, x <= upper), faces included', async (t) => {
  const { x, lower, upper } = cases(3000);
  const want = tf.cast(tf.logicalAnd(tf.greaterEqual(x, lower), tf.lessEqual(x, upper)), 'float32').dataSync();
  const got = insideBox(x, lower, upper);
  t.equal(got.dtype, 'float32');
  t.same(Array.from(got.dataSync()), Array.from(want));
  t.ok(want.some((v) => v === 0) && want.some((v) => v === 1));
});

t.test('the box helpers leak no tensors', async (t) => {
  const { x, lower, upper } = cases(300);
  const before = tf.memory().numTensors;
  clipToBox(x, lower, upper).dispose();
  insideBox(x, lower, upper).dispose();
  t.equal(tf.memory().numTensors, before);
});
