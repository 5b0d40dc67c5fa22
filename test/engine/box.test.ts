import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { clipToBox, insideBox } from '../../src/engine/attacks/box';
import { epsBox, roundIntoBox } from '../../src/engine/pixels';
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

t.test('epsBox gives the bytes of max(clean - eps, 0) and min(clean + eps, 255)', async (t) => {
  const rand = seededRandom(11);
  const clean = tf.tensor4d(Array.from({ length: 3000 }, () => Math.round(rand() * 255)), [1, 1, 1000, 3]);
  for (const eps of [16, 16.5, 0.3, 1 / 3, 200, 255, 300]) {
    const { lower, upper } = epsBox(clean, eps);
    t.same(Array.from(lower.dataSync()), Array.from(tf.maximum(tf.sub(clean, eps), 0).dataSync()), `lower, eps ${eps}`);
    t.same(Array.from(upper.dataSync()), Array.from(tf.minimum(tf.add(clean, eps), 255).dataSync()), `upper, eps ${eps}`);
    // Both faces clip somewhere at these eps: the case is not the identity.
    if (eps >= 16) t.ok(lower.dataSync().some((v) => v === 0) && upper.dataSync().some((v) => v === 255));
  }
});

t.test('roundIntoBox keeps every rounded value within floor(eps) of the clean one and in [0, 255]', async (t) => {
  const rand = seededRandom(12);
  const cleanValues = Array.from({ length: 3000 }, () => Math.round(rand() * 255));
  const clean = tf.tensor4d(cleanValues, [1, 1, 1000, 3]);
  const eps = 4.7;
  // x may sit anywhere in the real box [clean - eps, clean + eps], where plain rounding can leave the integer one.
  const x = tf.tensor4d(cleanValues.map((c) => Math.min(255, Math.max(0, c + (2 * rand() - 1) * eps))), [1, 1, 1000, 3]);
  const got = roundIntoBox(x, clean, eps).dataSync();
  const xs = x.dataSync();
  t.ok(cleanValues.some((c, i) => Math.abs(Math.round(xs[i]) - c) > 4), 'some plain roundings leave the box');
  t.ok(got.every((v, i) => Number.isInteger(v) && v >= 0 && v <= 255 && Math.abs(v - cleanValues[i]) <= 4));
  t.ok(got.every((v, i) => v === Math.min(cleanValues[i] + 4, Math.max(cleanValues[i] - 4, Math.round(xs[i])))), 'round, then clip to the integer box');
});
