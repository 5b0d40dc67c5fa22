import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { Engine } from '../../src/engine/engine';
import { LocalRunner } from '../../src/engine/runner';
import { ATTACK_METHODS, type AttackParams } from '../../src/engine/types';
import { tinyClassifier, tinyEngine, tinyImage, useBackend } from '../support/tiny';

const W = 12;
const H = 10; // not the models' 8x8: the resize inside the classifier is part of what is attacked

const engine = tinyEngine;

async function pngRoundTrip(img: { width: number; height: number; rgb: Uint8Array }): Promise<Uint8Array> {
  const png = await sharp(Buffer.from(img.rgb), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

t.before(() => useBackend());

for (const method of ATTACK_METHODS) {
  t.test(`${method} reaches a target white-box and stays within eps after the PNG round trip`, async (t) => {
    const e = engine();
    const image = tinyImage(W, H, 7);
    const clean = await e.classify(image, { topK: 4 });
    // Aim at the class the ensemble likes least: the hardest target.
    const target = clean.ensemble.top[3].index;
    const eps = 16;
    const before = tf.memory().numTensors;
    const out = await e.attack(image, { method, eps, iterations: 20, targeted: true, target });
    t.equal(tf.memory().numTensors, before, 'no tensor leaks');
    t.equal(out.success, true, `success (ensemble after: ${out.ensemble.after.label})`);
    const check = await e.classify(out.image, { topK: 1 });
    t.equal(check.ensemble.top[0].index, target, 'the returned image is classified as the target');
    t.equal(out.image.width, W);
    t.equal(out.image.height, H);
    const decoded = await pngRoundTrip(out.image);
    let linf = 0;
    for (let i = 0; i < decoded.length; i++) linf = Math.max(linf, Math.abs(decoded[i] - image.rgb[i]));
    t.ok(linf <= eps, `L-inf after PNG round trip ${linf} <= ${eps}`);
    t.equal(linf, out.linf, 'reported L-inf is the measured one');
    t.ok(linf > 0, 'the image changed');
    e.dispose();
  });
}

t.test('mi-fgsm step: eps / iterations by default, alpha when given; logit loss reaches the target', async (t) => {
  const image = tinyImage(W, H, 12);
  const maxChange = (out: { image: { rgb: Uint8Array } }) => {
    let m = 0;
    for (let i = 0; i < image.rgb.length; i++) m = Math.max(m, Math.abs(out.image.rgb[i] - image.rgb[i]));
    return m;
  };
  const e = engine();
  t.equal(maxChange(await e.attack(image, { method: 'mi-fgsm', eps: 16, iterations: 4, targeted: true, target: 0 })), 16, '4 steps of 16/4');
  t.equal(maxChange(await e.attack(image, { method: 'mi-fgsm', eps: 16, iterations: 1, targeted: true, target: 0, alpha: 3 })), 3, 'one step of alpha 3');
  const clean = await e.classify(image, { topK: 4 });
  const target = clean.ensemble.top[3].index;
  const out = await e.attack(image, { method: 'mi-fgsm', eps: 16, iterations: 20, targeted: true, target, alpha: 2, loss: 'logit', di: true, ti: 3 });
  t.equal(out.success, true, `logit loss, MI-DI-TI: success (ensemble after: ${out.ensemble.after.label})`);
  t.ok(out.linf <= 16);
  e.dispose();
});

t.test('fractional eps: rounding never leaves the budget', async (t) => {
  const e = engine();
  const image = tinyImage(W, H, 8);
  const out = await e.attack(image, { method: 'mng-l1', eps: 2.5, iterations: 10, targeted: true, target: 0 });
  let linf = 0;
  for (let i = 0; i < image.rgb.length; i++) linf = Math.max(linf, Math.abs(out.image.rgb[i] - image.rgb[i]));
  t.ok(linf <= 2, `L-inf ${linf} <= floor(2.5)`);
  e.dispose();
});

t.test('untargeted attacks change the ensemble label', async (t) => {
  for (const targetSelection of ['least-likely', 'max-loss'] as const) {
    const e = engine();
    const image = tinyImage(W, H, 9);
    const clean = await e.classify(image, { topK: 1 });
    const out = await e.attack(image, { method: 'mng-l1', eps: 16, iterations: 20, targeted: false, targetSelection });
    t.equal(out.success, true, targetSelection);
    t.not(out.ensemble.after.label, clean.ensemble.top[0].label, `${targetSelection}: label changed`);
    e.dispose();
  }
});

t.test('alpha channel passes through untouched', async (t) => {
  const e = engine();
  const image = tinyImage(W, H, 10, true);
  image.alpha![3] = 17;
  const out = await e.attack(image, { method: 'ifgsm', eps: 8, iterations: 3, targeted: true, target: 1 });
  t.same(out.image.alpha, image.alpha);
  e.dispose();
});

t.test('bad parameters are rejected with domain errors naming the parameter (the HTTP layer maps them to 400/404)', async (t) => {
  const e = engine();
  const image = tinyImage(W, H, 11);
  const bad = (params: Partial<AttackParams>, expected: object) =>
    t.rejects(e.attack(image, { method: 'mng-l1', eps: 16, iterations: 20, targeted: true, target: 1, ...params }), expected as Error, JSON.stringify(params));
  await bad({ eps: 0 }, { name: 'InvalidOption', param: 'eps' });
  await bad({ target: 9 }, { name: 'InvalidOption', param: 'target' });
  await bad({ models: ['nope'] }, { name: 'UnknownModel', id: 'nope' });
  await bad({ method: 'cw' as AttackParams['method'] }, { name: 'InvalidOption', param: 'method' });
  await bad({ ti: 4 }, { name: 'InvalidOption', param: 'ti', message: /ti must be one of 0, 3, 5/ });
  await bad({ loss: 'hinge' as AttackParams['loss'] }, { name: 'InvalidOption', param: 'loss' });
  await bad({ method: 'si-fgsm', scales: 0 }, { name: 'InvalidOption', param: 'scales' });
  await bad({ method: 'vmi-fgsm', beta: 0 }, { name: 'InvalidOption', param: 'beta' });
  await bad({ method: 'mi-fgsm', mu: -1 }, { name: 'InvalidOption', param: 'mu' });
  e.dispose();
});

t.test('an aborted attack stops between iterations and frees its tensors', async (t) => {
  const e = engine();
  const image = tinyImage(W, H, 12);
  const before = tf.memory().numTensors;
  const ac = new AbortController();
  setImmediate(() => ac.abort(new Error('client went away')));
  await t.rejects(e.attack(image, { method: 'mng-l1', eps: 16, iterations: 1000, targeted: true, target: 1, signal: ac.signal }), { name: 'AbortedError' });
  t.equal(tf.memory().numTensors, before);
  e.dispose();
});

t.test("the clean prediction comes from the first gradient pass when the objective allows, and equals classify's", async (t) => {
  class CountingRunner extends LocalRunner {
    probabilityPasses = 0;
    override async probabilities(model: string, reqs: Parameters<LocalRunner['probabilities']>[1]) {
      this.probabilityPasses++;
      return super.probabilities(model, reqs);
    }
  }
  const image = tinyImage(W, H, 13);
  const cases = [
    { name: 'targeted', params: { targeted: true, target: 1 }, passes: [2] },
    // Step 0 of a DI attack may see a resized input: then the clean prediction takes its own pass.
    ...[0, 1, 2, 3, 4, 5].map((seed) => ({ name: `targeted + di, seed ${seed}`, params: { targeted: true, target: 1, di: true, seed }, passes: [2, 4] })),
    { name: 'untargeted, least-likely', params: { targeted: false }, passes: [4] },
    { name: 'untargeted, away from a given label', params: { targeted: false, targetSelection: 'max-loss' as const, label: 2 }, passes: [2] },
  ];
  const seen = new Set<number>();
  for (const c of cases) {
    const runner = new CountingRunner('wasm');
    runner.add(tinyClassifier('m1', 1));
    runner.add(tinyClassifier('m2', 2));
    const e = new Engine(runner);
    const clean = await e.classify(image, { topK: 1 });
    runner.probabilityPasses = 0;
    const out = await e.attack(image, { method: 'mi-fgsm', eps: 8, iterations: 3, ...c.params });
    t.ok(c.passes.includes(runner.probabilityPasses), `${c.name}: ${runner.probabilityPasses} probability passes (2 = only the final check)`);
    if (c.name.includes('di')) seen.add(runner.probabilityPasses);
    out.models.forEach((m, i) => {
      t.equal(m.before.label, clean.models[i].top[0].label, `${c.name}: ${m.id} clean label`);
      t.ok(Math.abs(m.before.prob - clean.models[i].top[0].prob) < 1e-6, `${c.name}: ${m.id} clean probability`);
    });
    t.equal(out.ensemble.before.label, clean.ensemble.top[0].label, `${c.name}: ensemble clean label`);
    e.dispose();
  }
  t.same([...seen].sort(), [2, 4], 'the DI seeds cover both paths (first pass, and a separate one)');
});
