import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { makePoolLayer, pool } from '../src/models/net/ops';
async function main() {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([1, 147, 147, 64]) as tf.Tensor4D;
  const l = makePoolLayer((process.argv[2] ?? 'max') as 'max', [3, 3], [2, 2], 'valid');
  const y = pool(x, l);
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const run = () => tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(tf.mul(pool(z as tf.Tensor4D, l), dy)))(x));
  run().dispose();
  const prof = await tf.profile(() => { run().dispose(); });
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) { const e = by.get(k.name) ?? { ms: 0, n: 0 }; e.ms += k.kernelTimeMs as number; e.n++; by.set(k.name, e); }
  for (const [k, v] of [...by].sort((p, q) => q[1].ms - p[1].ms)) console.log(k.padEnd(28), v.ms.toFixed(2).padStart(8), String(v.n).padStart(5));
}
main();
