/**
 * Fast ops (ops.ts) and the registered conv gradients against central finite differences of
 * their own forward on wasm: every input element of small random tensors. An element whose
 * difference quotient changes between eps and eps/2 sits on a ReLU/ReLU6 kink or a max-pool
 * switch and is skipped (counted: at most 20% may be skipped).
 */
import t, { Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ConvPad, registerFastGradients } from '../../src/models/net/conv-grad';
import {
  FusedActivation, convBiasAct, denseBiasAct, disposeConvLayer, disposeDenseLayer, disposePoolLayer, makeConvLayer, makeDenseLayer, makePoolLayer, pool,
} from '../../src/models/net/ops';

import { fill, rng, size } from '../support/random';

/**
 * Checks tf.grad of sum(f(x) * R) against central differences, element by element. All ops
 * tested are piecewise linear in x, so along one coordinate the loss is linear on [x-e, x+e]
 * unless a ReLU/ReLU6 kink or a max-pool switch lies inside: the four slopes over the
 * quarters of that interval then disagree and the element is skipped. Otherwise the central
 * difference is the exact derivative up to float32 rounding. Loss sums are in float64.
 */
function checkGrad(t: Test, name: string, f: (x: tf.Tensor) => tf.Tensor, xShape: number[], seed: number, xScale = 1): void {
  const r = rng(seed);
  const x0 = fill(size(xShape), r, xScale);
  const yShape = tf.tidy(() => f(tf.tensor(x0, xShape)).shape);
  const weights = fill(size(yShape), r);
  const loss = (x: Float32Array) =>
    tf.tidy(() => {
      const y = f(tf.tensor(x, xShape)).dataSync();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * weights[i];
      return s;
    });
  const analytic = tf.tidy(() => {
    const w = tf.tensor(weights, yShape);
    return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x), w)))(tf.tensor(x0, xShape)).dataSync() as Float32Array;
  });
  const e = 1e-2 * xScale;
  let skipped = 0, worst = 0, nonzero = 0;
  for (let i = 0; i < x0.length; i++) {
    const at = (k: number) => {
      const x = x0.slice();
      x[i] += (k * e) / 2;
      return loss(x);
    };
    const v = [-2, -1, 0, 1, 2].map(at);
    const slopes = [0, 1, 2, 3].map((k) => (v[k + 1] - v[k]) / (e / 2));
    const central = (v[4] - v[0]) / (2 * e);
    if (Math.max(...slopes) - Math.min(...slopes) > 2e-3 * Math.max(1, Math.abs(central))) {
      skipped++;
      continue;
    }
    if (Math.abs(central) > 1e-4) nonzero++;
    worst = Math.max(worst, Math.abs(analytic[i] - central) / Math.max(1, Math.abs(central)));
  }
  t.ok(worst < 2e-3, `${name}: max error vs finite differences ${worst.toExponential(2)}`);
  t.ok(skipped <= 0.2 * x0.length, `${name}: ${skipped}/${x0.length} elements on a kink skipped`);
  t.ok(nonzero > 0, `${name}: the finite-difference gradient is not all zero (${nonzero}/${x0.length} nonzero)`);
}

t.before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

t.test('convBiasAct: conv and depthwise, strides, paddings, activations', async (t) => {
  const pads: ConvPad[] = ['same', 'valid', [[0, 0], [0, 1], [2, 1], [0, 0]]];
  const acts: FusedActivation[] = ['linear', 'relu', 'relu6'];
  let seed = 1;
  for (const depthwise of [false, true]) {
    for (const [k, s, hw] of [[3, 1, [5, 6]], [3, 2, [7, 6]], [1, 1, [4, 5]], [1, 2, [5, 5]], [2, 2, [6, 7]], [5, 3, [8, 7]]] as Array<[number, number, [number, number]]>) {
      for (const pad of pads) {
        const act = acts[seed % 3];
        const m = depthwise ? 1 + (seed % 2) : 3;
        const r = rng(100 + seed);
        const before = tf.memory().numTensors;
        // Weights scaled so that pre-activations cross 0 and 6.
        const filter = tf.tensor4d(fill(k * k * 2 * m, r, 2.5), [k, k, 2, m]);
        const bias = tf.tensor1d(fill(depthwise ? 2 * m : m, r, 2));
        const l = makeConvLayer({ depthwise, filter, bias, strides: [s, s], pad, activation: act });
        const name = `${depthwise ? `depthwise m${m}` : 'conv'} k${k} s${s} ${JSON.stringify(pad)} ${act} x${hw}`;
        checkGrad(t, name, (x) => convBiasAct(x as tf.Tensor4D, l), [2, hw[0], hw[1], 2], seed++, 1.5);
        disposeConvLayer(l);
        t.equal(tf.memory().numTensors, before, `${name}: no leaked tensors`);
      }
    }
  }
});

t.test('convBiasAct forward equals tfjs unfused ops', async (t) => {
  const r = rng(5);
  const x = tf.tensor4d(fill(2 * 9 * 8 * 4, r, 3), [2, 9, 8, 4]);
  for (const act of ['linear', 'relu', 'relu6'] as FusedActivation[]) {
    for (const depthwise of [false, true]) {
      const filter = tf.tensor4d(fill(3 * 3 * 4 * 2, r), [3, 3, 4, 2]);
      const bias = tf.tensor1d(fill(depthwise ? 8 : 2, r));
      const l = makeConvLayer({ depthwise, filter, bias, strides: [2, 2], pad: 'same', activation: act });
      const diff = tf.tidy(() => {
        const lin = tf.add(depthwise ? tf.depthwiseConv2d(x, filter, 2, 'same') : tf.conv2d(x, filter, 2, 'same'), bias);
        const ref = act === 'relu' ? tf.relu(lin) : act === 'relu6' ? tf.relu6(lin) : lin;
        return tf.max(tf.abs(tf.sub(convBiasAct(x, l), ref))).dataSync()[0];
      });
      t.ok(diff < 1e-5, `${depthwise ? 'depthwise' : 'conv'} ${act}: max |diff| ${diff}`);
      disposeConvLayer(l);
    }
  }
  x.dispose();
});

t.test('denseBiasAct', async (t) => {
  for (const act of ['linear', 'relu', 'relu6'] as FusedActivation[]) {
    const r = rng(7);
    const l = makeDenseLayer(tf.tensor2d(fill(12 * 5, r, 2), [12, 5]), tf.tensor1d(fill(5, r, 3)), act);
    checkGrad(t, `dense ${act}`, (x) => denseBiasAct(x as tf.Tensor2D, l), [3, 12], 11, 2);
    disposeDenseLayer(l);
  }
});

t.test('pool: max and average, overlapping, strided, same/valid, tiled', async (t) => {
  const cases: Array<['max' | 'avg', number, number, 'same' | 'valid', [number, number]]> = [
    ['max', 3, 2, 'valid', [7, 8]], ['max', 3, 1, 'same', [5, 5]], ['max', 2, 2, 'same', [5, 6]], ['max', 3, 2, 'same', [6, 7]],
    ['max', 2, 3, 'valid', [8, 7]], ['max', 1, 2, 'valid', [5, 5]],
    ['avg', 3, 1, 'same', [5, 6]], ['avg', 3, 2, 'same', [7, 6]], ['avg', 3, 2, 'valid', [7, 8]],
    ['avg', 2, 2, 'valid', [5, 7]], ['avg', 5, 1, 'valid', [5, 5]],
  ];
  let seed = 40;
  for (const [kind, k, s, pad, hw] of cases) {
    const l = makePoolLayer(kind, [k, k], [s, s], pad);
    const name = `${kind}Pool k${k} s${s} ${pad} x${hw}`;
    // Forward must be tfjs' own pool.
    const diff = tf.tidy(() => {
      const x = tf.randomNormal([2, hw[0], hw[1], 3], 0, 1, 'float32', seed) as tf.Tensor4D;
      const ref = kind === 'max' ? tf.maxPool(x, k, s, pad) : tf.avgPool(x, k, s, pad);
      return tf.max(tf.abs(tf.sub(pool(x, l), ref))).dataSync()[0];
    });
    t.equal(diff, 0, `${name}: forward equals tfjs`);
    checkGrad(t, name, (x) => pool(x as tf.Tensor4D, l), [2, hw[0], hw[1], 3], seed++);
    disposePoolLayer(l);
  }
});

t.test('registered Conv2D / DepthwiseConv2dNative gradients with dilation', async (t) => {
  registerFastGradients();
  const r = rng(9);
  const w = tf.tensor4d(fill(3 * 3 * 2 * 2, r), [3, 3, 2, 2]);
  checkGrad(t, 'conv2d dilation 2 same', (x) => tf.conv2d(x as tf.Tensor4D, w, 1, 'same', 'NHWC', 2), [1, 7, 8, 2], 21);
  checkGrad(t, 'conv2d dilation 2 valid', (x) => tf.conv2d(x as tf.Tensor4D, w, 1, 'valid', 'NHWC', [2, 1]), [1, 7, 8, 2], 22);
  checkGrad(t, 'depthwise m2 dilation 2 same', (x) => tf.depthwiseConv2d(x as tf.Tensor4D, w, 1, 'same', 'NHWC', 2), [1, 7, 8, 2], 23);
  checkGrad(t, 'depthwise m2 stride 2 valid', (x) => tf.depthwiseConv2d(x as tf.Tensor4D, w, 2, 'valid'), [1, 7, 8, 2], 24);
  w.dispose();
});

t.test('max pool gradient: all-negative windows (wasm MaxPoolGrad gets these wrong) and ties', async (t) => {
  const l = makePoolLayer('max', [2, 2], [1, 1], 'valid');
  const x = tf.tensor4d([-3, -1, -2, -5, -4, -6, -7, -8, -9], [1, 3, 3, 1]);
  const g = tf.tidy(() => Array.from(tf.grad((z: tf.Tensor) => tf.sum(pool(z as tf.Tensor4D, l)))(x).dataSync()));
  // Window maxima: -1 (twice), -4 (twice): each gets dy = 1 from two windows.
  t.same(g, [0, 2, 0, 0, 2, 0, 0, 0, 0], 'negative windows route dy to their maxima');
  const ties = tf.zeros([1, 3, 3, 1]) as tf.Tensor4D;
  const gt = tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(pool(z as tf.Tensor4D, l)))(ties).dataSync());
  const total = Array.from(gt).reduce((a, b) => a + b, 0);
  t.ok(Math.abs(total - 4) < 1e-6, `ties: dy is split, not duplicated (sum of dx ${total}, 4 windows)`);
  t.same(Array.from(gt), [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25], 'ties: each window splits its dy evenly');
  x.dispose();
  ties.dispose();
  disposePoolLayer(l);
});
