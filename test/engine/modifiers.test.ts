import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { Engine } from '../../src/engine/engine';
import { drawDiverse, gaussianKernel, translationInvariant } from '../../src/engine/attacks/modifiers';
import { seededRandom } from '../../src/engine/random';
import { LocalRunner } from '../../src/engine/runner';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';

t.before(() => useBackend());

t.test('TI kernel: the paper\'s Gaussian (linspace over [-3, 3]), normalised', async (t) => {
  const k = gaussianKernel(7);
  t.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'sums to 1');
  // Hand value: the centre weight is 1 / (sum_i exp(-x_i^2/2))^2 for x = -3..3 step 1.
  const s = [-3, -2, -1, 0, 1, 2, 3].reduce((a, x) => a + Math.exp(-0.5 * x * x), 0);
  t.ok(Math.abs(k[3 * 7 + 3] - 1 / (s * s)) < 1e-6, 'centre weight');
  t.ok(Math.abs(k[0] - Math.exp(-9) / (s * s)) < 1e-9, 'corner weight');
});

t.test('TI smoothing of a single spike is the kernel itself, per channel', async (t) => {
  const g = tf.buffer([1, 9, 9, 3], 'float32');
  g.set(1, 0, 4, 4, 1);
  const out = await translationInvariant(g.toTensor() as tf.Tensor4D, 7).data();
  const k = gaussianKernel(7);
  let maxErr = 0;
  for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) maxErr = Math.max(maxErr, Math.abs(out[((y + 1) * 9 + (x + 1)) * 3 + 1] - k[y * 7 + x]));
  t.ok(maxErr < 1e-6, `matches the kernel (max error ${maxErr})`);
  t.equal(out[(4 * 9 + 4) * 3 + 0], 0, 'other channels untouched');
});

t.test('DI draws: probability about 1/2, scale in [1, 1.1), reproducible from the seed', async (t) => {
  const r = seededRandom(3);
  const draws = Array.from({ length: 400 }, () => drawDiverse(r));
  const used = draws.filter(Boolean);
  t.ok(used.length > 160 && used.length < 240, `${used.length}/400 steps transformed`);
  t.ok(used.every((d) => d!.scale >= 1 && d!.scale < 1.1));
  const again = seededRandom(3);
  t.same(Array.from({ length: 400 }, () => drawDiverse(again)), draws);
});

t.test('the DI preprocess keeps the model input size and differs from the plain one', async (t) => {
  const m = tinyClassifier('di', 1, 20);
  const x = tf.tensor4d(Float32Array.from(tinyImage(30, 24, 2).rgb), [1, 24, 30, 3]);
  const plain = m.preprocess(x);
  const diverse = m.preprocess(x, { scale: 1.05, maxScale: 1.1, offsetY: 0.99, offsetX: 0 });
  t.same(diverse.shape, [1, 20, 20, 3]);
  const diff = tf.max(tf.abs(tf.sub(plain, diverse))).dataSync()[0];
  t.ok(diff > 0.01, `transformed (max diff ${diff})`);
  // offsetY near 1 pads at the top: the first row of the padded canvas is the pad value (0).
  t.equal(diverse.slice([0, 0, 0, 0], [1, 1, 20, 3]).max().dataSync()[0], 0, 'padding at the top');
});

t.test('MI-DI-TI: same seed, same bytes; another seed, another image', async (t) => {
  const run = async (seed: number) => {
    const runner = new LocalRunner('wasm');
    runner.add(tinyClassifier('m1', 1));
    const e = new Engine(runner);
    return (await e.attack(tinyImage(16, 12, 4), { method: 'mi-fgsm', di: true, ti: 3, eps: 8, iterations: 8, targeted: true, target: 2, seed })).image.rgb;
  };
  const a = await run(1);
  t.same(await run(1), a, 'reproducible');
  t.not(Buffer.from(await run(2)).toString('hex'), Buffer.from(a).toString('hex'), 'the seed matters');
});
