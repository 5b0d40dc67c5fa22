/**
 * White-box tests of the methods added with the registry (pgd, si-fgsm, vmi-fgsm, loss=margin)
 * on tiny models, beyond the shared ones every method gets in attacks.test.ts (reaches the
 * hardest target, within eps after the PNG round trip, no tensor leaks): what makes each one
 * itself, and that the extra passes SI and VMI need go out batched.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { Engine } from '../../src/engine/engine';
import type { GradRequest } from '../../src/engine/gradients';
import { LocalRunner } from '../../src/engine/runner';
import type { AttackParams } from '../../src/engine/types';
import type { DirectionOracle } from '../../src/engine/attacks/base';
import { VmiFgsm } from '../../src/engine/attacks/vmi-fgsm';
import { seededRandom } from '../../src/engine/random';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';

const W = 12;
const H = 10;

/** Counts the direction passes (batches) and the requests in them, per model. */
class CountingRunner extends LocalRunner {
  batches = 0;
  requests = 0;
  override async directions(model: string, reqs: GradRequest[]) {
    this.batches++;
    this.requests += reqs.length;
    return super.directions(model, reqs);
  }
}

function engine(maxBatch = 8) {
  const runner = new CountingRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  runner.add(tinyClassifier('m2', 2));
  return { e: new Engine(runner, { maxBatch }), runner };
}

const image = tinyImage(W, H, 21);
const base = { eps: 12, iterations: 4, targeted: true, target: 3 } as const;
const bytes = async (e: Engine, params: Partial<AttackParams> & Pick<AttackParams, 'method'>) => Buffer.from((await e.attack(image, { ...base, ...params })).image.rgb);
const maxChange = (rgb: Uint8Array) => rgb.reduce((m, v, i) => Math.max(m, Math.abs(v - image.rgb[i])), 0);

t.before(() => useBackend());

t.test('pgd: a random start in the eps-box from the seed, then projected signed steps', async (t) => {
  const { e } = engine();
  const a = await bytes(e, { method: 'pgd', seed: 1 });
  t.same(await bytes(e, { method: 'pgd', seed: 1 }), a, 'same seed, same bytes');
  t.notSame(await bytes(e, { method: 'pgd', seed: 2 }), a, 'another seed, another start');
  t.same(await bytes(e, { method: 'pgd', seed: 1, alpha: (2.5 * 12) / 4 }), a, 'default alpha = 2.5 * eps / iterations');
  // One tiny step: the output is the random start, spread over the box, not the clean image.
  const start = await bytes(e, { method: 'pgd', iterations: 1, alpha: 0.01, seed: 3 });
  const spread = maxChange(start);
  t.ok(spread > 6 && spread <= 12, `the start moved pixels up to ${spread} (eps 12)`);
  const ifgsm = await bytes(e, { method: 'ifgsm', iterations: 1, alpha: 0.01 });
  t.ok(maxChange(ifgsm) <= 1, 'without a random start the same step barely moves the image');
  e.dispose();
});

t.test('si-fgsm: scales copies per step, batched into one pass per model; scales=1 is mi-fgsm', async (t) => {
  const { e, runner } = engine();
  const out = await e.attack(image, { ...base, method: 'si-fgsm', iterations: 3 });
  t.equal(runner.requests, 2 * 3 * 5, '5 gradient requests per model per step (x and 4 scaled copies)');
  t.equal(runner.batches, 2 * 3, 'in one pass per model per step');
  t.equal(out.success, true, `reaches the target (after: ${out.ensemble.after.label})`);
  t.same(await bytes(e, { method: 'si-fgsm', scales: 1, mu: 0.7 }), await bytes(e, { method: 'mi-fgsm', mu: 0.7 }), 'one scale: the same bytes as mi-fgsm');
  t.notSame(await bytes(e, { method: 'si-fgsm', scales: 3 }), await bytes(e, { method: 'mi-fgsm' }), 'more scales: another image');
  e.dispose();
});

t.test('vmi-fgsm: samples neighbours per step, batched; the first step is mi-fgsm; seeded', async (t) => {
  const { e, runner } = engine();
  await e.attack(image, { ...base, method: 'vmi-fgsm', iterations: 2, samples: 7 });
  t.equal(runner.requests, 2 * 2 * 8, 'x and 7 neighbours per model per step');
  t.equal(runner.batches, 2 * 2, 'in one pass per model per step (maxBatch 8)');
  t.same(await bytes(e, { method: 'vmi-fgsm', iterations: 1 }), await bytes(e, { method: 'mi-fgsm', iterations: 1 }), 'no variance yet: step 1 is mi-fgsm');
  const a = await bytes(e, { method: 'vmi-fgsm', seed: 4, samples: 5 });
  t.same(await bytes(e, { method: 'vmi-fgsm', seed: 4, samples: 5 }), a, 'same seed, same bytes');
  t.notSame(await bytes(e, { method: 'vmi-fgsm', seed: 4, samples: 5 }), await bytes(e, { method: 'mi-fgsm' }), 'the variance changes later steps');
  runner.batches = runner.requests = 0;
  const before = tf.memory().numTensors;
  await e.attack(image, { ...base, method: 'vmi-fgsm', iterations: 1 });
  t.equal(runner.requests, 2 * 21, 'default: x and 20 neighbours per model');
  t.equal(runner.batches, 2 * 3, '7 neighbours out at once (with x, one batch of 8): 3 passes per model');
  t.equal(tf.memory().numTensors, before, 'no tensor leaks');
  const ac = new AbortController();
  setImmediate(() => ac.abort(new Error('gone')));
  await t.rejects(e.attack(image, { ...base, method: 'vmi-fgsm', iterations: 1000, signal: ac.signal }), { name: 'AbortedError' });
  await t.rejects(e.attack(image, { ...base, method: 'si-fgsm', iterations: 1000, signal: AbortSignal.abort() }), { name: 'AbortedError' });
  t.equal(tf.memory().numTensors, before, 'aborted mid-step: nothing leaks');
  const { e: small, runner: r2 } = engine(4);
  await small.attack(image, { ...base, method: 'vmi-fgsm', iterations: 1, samples: 7 });
  t.equal(r2.batches, 2 * 2, 'maxBatch 4: two passes per model for 8 requests');
  small.dispose();
  e.dispose();
});

t.test('loss=margin reaches the target and frees its tensors; a large kappa keeps pushing', async (t) => {
  const { e } = engine();
  const clean = await e.classify(image, { topK: 4 });
  const target = clean.ensemble.top[3].index;
  const before = tf.memory().numTensors;
  const out = await e.attack(image, { method: 'mi-fgsm', eps: 16, iterations: 20, targeted: true, target, loss: 'margin' });
  t.equal(tf.memory().numTensors, before, 'no tensor leaks');
  t.equal(out.success, true, `kappa 0: success (after: ${out.ensemble.after.label})`);
  const far = await e.attack(image, { method: 'mi-fgsm', eps: 16, iterations: 20, targeted: true, target, loss: 'margin', kappa: 50 });
  t.ok(far.ensemble.after.targetProb >= out.ensemble.after.targetProb, `kappa 50 pushes at least as far (${far.ensemble.after.targetProb.toFixed(3)} >= ${out.ensemble.after.targetProb.toFixed(3)})`);
  const away = await e.attack(image, { method: 'ifgsm', eps: 16, iterations: 20, targeted: false, targetSelection: 'max-loss', loss: 'margin' });
  t.equal(away.success, true, 'untargeted max-loss with the margin moves the label');
  e.dispose();
});

t.test('a probe pass that fails in a later round: the step fails and frees what arrived', async (t) => {
  const clean = tf.tensor4d(Array.from({ length: 6 }, (_, i) => 50 + i), [1, 1, 2, 3]);
  const ctx = { clean, lower: tf.sub(clean, 8) as tf.Tensor4D, upper: tf.add(clean, 8) as tf.Tensor4D, eps: 8, iterations: 3, random: seededRandom(1) };
  const before = tf.memory().numTensors;
  let calls = 0;
  const oracle: DirectionOracle = async (x, _i, _d, probe) => {
    calls++;
    if (probe && calls === 12) throw new Error('worker died');
    return [0, 1].map(() => Promise.resolve(tf.onesLike(x)));
  };
  await t.rejects(new VmiFgsm({ samples: 20 }).run(ctx, oracle), /worker died/);
  t.ok(calls >= 12 && calls <= 15, `failed in the second round of requests (${calls} calls)`);
  t.equal(tf.memory().numTensors, before, 'nothing leaks');
  tf.dispose([clean, ctx.lower, ctx.upper]);
});
