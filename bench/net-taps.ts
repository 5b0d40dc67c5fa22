import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { makePoolLayer, pool } from '../src/models/net/ops';
async function main() {
  await tf.setBackend('wasm');
  const time = (label: string, f: () => tf.Tensor | tf.Tensor[]) => {
    for (let i = 0; i < 2; i++) tf.tidy(() => { const r = f(); (Array.isArray(r) ? r[0] : r).dataSync(); });
    const c0 = process.cpuUsage();
    for (let i = 0; i < 10; i++) tf.tidy(() => { const r = f(); (Array.isArray(r) ? r[0] : r).dataSync(); });
    const c = process.cpuUsage(c0);
    console.log(label.padEnd(40), ((c.user + c.system) / 1000 / 10).toFixed(2), 'ms cpu');
  };
  const x = tf.randomNormal([1, 147, 147, 64]) as tf.Tensor4D;
  const oh = 73;
  const y = tf.maxPool(x, 3, 2, 'valid');
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  time('MaxPoolGrad', () => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 3, strides: 2, pad: 'valid' }) as tf.Tensor);
  const l = makePoolLayer('max', [3, 3], [2, 2], 'valid');
  time('my maxPoolGrad (current)', () => tf.grad((z: tf.Tensor) => tf.sum(tf.mul(pool(z as tf.Tensor4D, l), dy)))(x));
  time('1 stridedSlice', () => tf.stridedSlice(x, [0, 1, 1, 0], [1, 1 + 2 * (oh - 1) + 1, 1 + 2 * (oh - 1) + 1, 64], [1, 2, 2, 1]));
  time('1 slice 4d (1.25M)', () => tf.slice(x, [0, 1, 1, 0], [1, 140, 140, 64]));
  const E1 = tf.tidy(() => tf.tile(tf.reshape(tf.tensor1d([0, 0, 0, 0, 1, 0, 0, 0, 0]), [3, 3, 1, 1]), [1, 1, 64, 1])) as tf.Tensor4D;
  time('1 depthwise one-hot tap', () => tf.depthwiseConv2d(x, E1, 2, 'valid'));
  const E = tf.tidy(() => tf.reshape(tf.cast(tf.oneHot(tf.range(0, 9, 1, 'int32'), 9), 'float32'), [3, 3, 1, 9]).tile([1, 1, 64, 1])) as tf.Tensor4D;
  time('depthwise one-hot taps K=9', () => tf.depthwiseConv2d(x, E, 2, 'valid'));
  const tap = tf.depthwiseConv2d(x, E1, 2, 'valid');
  time('hit = 1 - step(y - tap)', () => tf.sub(1, tf.step(tf.sub(y, tap))));
  time('equal+cast', () => tf.cast(tf.equal(tap, y), 'float32'));
  time('pad 340k', () => tf.pad(y, [[0, 0], [1, 0], [0, 1], [0, 0]]));
  time('addN 4 x 340k', () => tf.addN([y, y, y, y]));
  time('stack 2x2 phases + reshape', () => tf.reshape(tf.stack([tf.stack([y, y], 3), tf.stack([y, y], 3)], 2), [1, 146, 146, 64]));
}
main().catch((e) => console.log(String(e).slice(0, 300)));
