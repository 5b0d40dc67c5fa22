import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { batchDirections, batchProbabilities, splitGradProbs, type GradRequest } from '../../src/engine/gradients';
import { agreesWithFiniteDifferences } from '../support/compare';
import { tinyClassifier, tinyImage, useBackend } from '../support/tiny';

t.before(() => useBackend());

function crossEntropy(model: ReturnType<typeof tinyClassifier>, pixels: Float32Array, h: number, w: number, cls: number): number {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(model.logits(tf.tensor4d(pixels, [1, h, w, 3])));
    return -logp.dataSync()[cls];
  });
}


t.test('attack direction = -dCE/dx, checked against central finite differences (resize and scaling inside)', async (t) => {
  const model = tinyClassifier('fd', 3);
  const img = tinyImage(12, 10, 4);
  const base = Float32Array.from(img.rgb);
  const cls = 2;
  const [dir] = batchDirections(model, [{ image: base, height: 10, width: 12, cls, towards: true }]);
  // The direction descends the cross-entropy.
  agreesWithFiniteDifferences(t, dir.map((v) => -v), base, (x) => crossEntropy(model, x, 10, 12, cls), 7);
  const [away] = batchDirections(model, [{ image: base, height: 10, width: 12, cls, towards: false }]);
  t.same(Array.from(away), Array.from(dir).map((v) => -v), 'max-loss direction is the opposite sign');
  model.dispose();
});

function logitOf(model: ReturnType<typeof tinyClassifier>, pixels: Float32Array, h: number, w: number, cls: number): number {
  return tf.tidy(() => model.logits(tf.tensor4d(pixels, [1, h, w, 3])).dataSync()[cls]);
}

t.test('logit loss: direction = dz_cls/dx (finite differences), and not the cross-entropy one', async (t) => {
  const model = tinyClassifier('fd-logit', 11);
  const img = tinyImage(12, 10, 8);
  const base = Float32Array.from(img.rgb);
  const cls = 1;
  const [dir] = batchDirections(model, [{ image: base, height: 10, width: 12, cls, towards: true, logit: true }]);
  const [ce] = batchDirections(model, [{ image: base, height: 10, width: 12, cls, towards: true }]);
  agreesWithFiniteDifferences(t, dir, base, (x) => logitOf(model, x, 10, 12, cls), 7);
  const differs = dir.some((v, i) => Math.abs(v - ce[i]) > 1e-3 * (Math.abs(v) + 1e-6));
  t.ok(differs, 'the logit direction is not the cross-entropy direction');
  model.dispose();
});

t.test('a request gets the same bytes alone and inside a mixed batch', async (t) => {
  const model = tinyClassifier('batch', 5);
  const reqs: GradRequest[] = [
    { image: Float32Array.from(tinyImage(12, 10, 1).rgb), height: 10, width: 12, cls: 0, towards: true },
    { image: Float32Array.from(tinyImage(7, 9, 2).rgb), height: 9, width: 7, cls: 3, towards: false },
    { image: Float32Array.from(tinyImage(16, 16, 3).rgb), height: 16, width: 16, cls: 1, towards: true, diverse: { scale: 1.05, maxScale: 1.1, offsetY: 0.3, offsetX: 0.9 } },
    { image: Float32Array.from(tinyImage(12, 10, 4).rgb), height: 10, width: 12, cls: 2, towards: true, logit: true },
  ];
  const together = batchDirections(model, reqs);
  const inPairs = batchDirections(model, reqs, 2);
  t.equal(inPairs.length, reqs.length, 'micro-batches return one result per request, in order');
  reqs.forEach((r, i) => {
    const [alone] = batchDirections(model, [r]);
    t.same(Buffer.from(alone.buffer), Buffer.from(together[i].buffer), `request ${i}`);
    t.same(Buffer.from(inPairs[i].buffer), Buffer.from(together[i].buffer), `request ${i}, micro-batches of 2`);
  });
  model.dispose();
});

t.test('no tensors leak from a batched pass', async (t) => {
  const model = tinyClassifier('leak', 6);
  const before = tf.memory().numTensors;
  batchDirections(model, [{ image: Float32Array.from(tinyImage(12, 10, 1).rgb), height: 10, width: 12, cls: 0, towards: true }]);
  t.equal(tf.memory().numTensors, before);
  model.dispose();
});

t.test('withProbs: the same gradient bytes, plus the probabilities a separate forward pass gives', async (t) => {
  const model = tinyClassifier('probs', 7);
  const plain: GradRequest = { image: Float32Array.from(tinyImage(12, 10, 1).rgb), height: 10, width: 12, cls: 2, towards: true };
  const other: GradRequest = { image: Float32Array.from(tinyImage(7, 9, 2).rgb), height: 9, width: 7, cls: 0, towards: false };
  const [gradOnly] = batchDirections(model, [plain]);
  const before = tf.memory().numTensors;
  const [both, second] = batchDirections(model, [{ ...plain, withProbs: true }, other]);
  t.equal(tf.memory().numTensors, before, 'no tensors leak');
  t.equal(second.length, 9 * 7 * 3, 'a request without withProbs gets the gradient alone');
  const { grad, probs } = splitGradProbs(both, plain);
  t.same(Buffer.from(grad.slice().buffer), Buffer.from(gradOnly.buffer), 'gradient bytes unchanged');
  const [separate] = batchProbabilities(model, [plain]);
  t.equal(probs.length, separate.length, 'one probability per class');
  const diff = Math.max(...[...probs].map((p, i) => Math.abs(p - separate[i])));
  t.ok(diff < 1e-6, `probabilities match a separate forward pass (max |diff| ${diff.toExponential(1)})`);
  t.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'they sum to 1');
  model.dispose();
});
