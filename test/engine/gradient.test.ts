import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { crossEntropy, modelDirection } from '../../src/engine/objective';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';

t.before(() => useBackend());

t.test('attack direction = -dCE/dx, checked against central finite differences (resize and scaling inside)', async (t) => {
  const model = tinyClassifier('fd', 3);
  const img = tinyImage(12, 10, 4);
  const x = tf.tensor4d(Float32Array.from(img.rgb), [1, 10, 12, 3]);
  const cls = 2;
  const dir = await modelDirection(model, x, { cls, towards: true }).data();
  const loss = (v: Float32Array) => tf.tidy(() => crossEntropy(model.logits(tf.tensor4d(v, [1, 10, 12, 3])), cls).dataSync()[0]);
  const base = Float32Array.from(img.rgb);
  const h = 0.25;
  let checked = 0;
  for (let i = 0; i < base.length; i += 7) {
    const plus = base.slice();
    const minus = base.slice();
    plus[i] += h;
    minus[i] -= h;
    const fd = (loss(plus) - loss(minus)) / (2 * h);
    const tol = 2e-4 + 0.02 * Math.abs(fd);
    if (Math.abs(-dir[i] - fd) > tol) t.fail(`value ${i}: analytic ${-dir[i]} vs finite difference ${fd}`);
    checked++;
  }
  t.ok(checked > 40, `${checked} coordinates agree`);
  const away = await modelDirection(model, x, { cls, towards: false }).data();
  t.same(Array.from(away), Array.from(dir).map((v) => -v), 'max-loss direction is the opposite sign');
});
