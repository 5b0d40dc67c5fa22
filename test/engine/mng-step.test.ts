import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { Mng } from '../../src/engine/attacks/mng';
import type { AttackContext } from '../../src/engine/attacks/base';
import { useBackend } from '../support/tiny';

// One image of 1x2 pixels (N = 6 values), eps 16, 20 iterations => alpha = (16/16)*(20/20)*N.
const clean = [100, 0, 255, 50, 50, 50];
const g1 = [3, -1, 1, 1, 0, -1];

function context(x: number[]): AttackContext {
  const c = tf.tensor4d(x, [1, 1, 2, 3]);
  return {
    clean: c,
    lower: tf.maximum(tf.sub(c, 16), 0) as tf.Tensor4D,
    upper: tf.minimum(tf.add(c, 16), 255) as tf.Tensor4D,
    eps: 16,
    iterations: 20,
    random: Math.random,
  };
}

t.before(() => useBackend());

t.test('mng-l1 step matches the hand computation', async (t) => {
  const ctx = context(clean);
  const step = new Mng('l1').modelStep(ctx.clean, tf.tensor4d(g1, [1, 1, 2, 3]), ctx);
  // alpha = 6; first step 6/7*g pushes value 1 below 0 and value 2 above 255: both clipped,
  // so the norm is recomputed over the other values: |3|+|1|+|0|+|-1| = 5, step = 6/5*g, clipped.
  const expected = [3.6, 0, 0, 1.2, 0, -1.2];
  const got = Array.from(await step.data());
  got.forEach((v, i) => t.ok(Math.abs(v - expected[i]) < 1e-4, `value ${i}: ${v} vs ${expected[i]}`));
});

t.test('mng-l2 step matches the hand computation', async (t) => {
  const ctx = context(clean);
  const step = new Mng('l2').modelStep(ctx.clean, tf.tensor4d(g1, [1, 1, 2, 3]), ctx);
  // alpha = sqrt(6); after clipping values 1 and 2, the L2 norm over the rest is sqrt(11).
  const k = Math.sqrt(6) / Math.sqrt(11);
  const expected = [3 * k, 0, 0, k, 0, -k];
  const got = Array.from(await step.data());
  got.forEach((v, i) => t.ok(Math.abs(v - expected[i]) < 1e-4, `value ${i}: ${v} vs ${expected[i]}`));
});

t.test('mng clips at the eps-box edge, not only at [0, 255]', async (t) => {
  const ctx = context(clean);
  // The current image already sits 15 above the clean value at index 0: only 1 is left there.
  const x = tf.tensor4d([115, 0, 255, 50, 50, 50], [1, 1, 2, 3]);
  const step = await new Mng('l1').modelStep(x, tf.tensor4d(g1, [1, 1, 2, 3]), ctx).data();
  // 6/7*3 = 2.57 > 1 -> index 0 clipped too; the norm over indices 3..5 is 2; step = 3*g.
  const expected = [1, 0, 0, 3, 0, -3];
  Array.from(step).forEach((v, i) => t.ok(Math.abs(v - expected[i]) < 1e-4, `value ${i}: ${v} vs ${expected[i]}`));
});

t.test('the ensemble step is the mean of the per-model steps', async (t) => {
  const ctx = context(clean);
  const mng = new Mng('l1');
  const g2 = tf.tensor4d([-1, 0, 0, 0, 2, 1], [1, 1, 2, 3]);
  const s1 = await mng.modelStep(ctx.clean, tf.tensor4d(g1, [1, 1, 2, 3]), ctx).data();
  const s2 = await mng.modelStep(ctx.clean, g2, ctx).data();
  const state = mng.start(ctx);
  const next = mng.advance(state, [tf.tensor4d(g1, [1, 1, 2, 3]), g2], ctx);
  const got = await next.x.data();
  Array.from(got).forEach((v, i) => t.ok(Math.abs(v - (clean[i] + (s1[i] + s2[i]) / 2)) < 1e-4, `value ${i}`));
});

t.test('one model: its step is the ensemble step, and a step leaves no tensor behind', async (t) => {
  const ctx = context(clean);
  const mng = new Mng('l1');
  const s1 = await mng.modelStep(ctx.clean, tf.tensor4d(g1, [1, 1, 2, 3]), ctx).data();
  const before = tf.memory().numTensors;
  const next = mng.advance(mng.start(ctx), [tf.tensor4d(g1, [1, 1, 2, 3])], ctx);
  const got = await next.x.data();
  Array.from(got).forEach((v, i) => t.equal(v, Math.fround(clean[i] + s1[i]), `value ${i}`));
  mng.finish(next).dispose();
  t.equal(tf.memory().numTensors, before, 'no tensor left');
});
