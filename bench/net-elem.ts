import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
async function main() {
  await tf.setBackend('wasm');
  const time = (label: string, f: () => tf.Tensor) => {
    for (let i = 0; i < 2; i++) tf.tidy(() => { f().dataSync(); });
    const c0 = process.cpuUsage();
    for (let i = 0; i < 15; i++) tf.tidy(() => { f().dataSync(); });
    const c = process.cpuUsage(c0);
    console.log(label.padEnd(40), ((c.user + c.system) / 1000 / 15).toFixed(2), 'ms cpu');
  };
  const x = tf.randomNormal([1, 147, 147, 64]) as tf.Tensor4D;
  const y = tf.randomNormal([1, 147, 147, 64]) as tf.Tensor4D;
  time('mul same', () => tf.mul(x, y));
  time('mul scalar', () => tf.mul(x, 2));
  time('sub scalar-first', () => tf.sub(6, x));
  time('mul channel [64]', () => tf.mul(x, tf.ones([64])));
  time('mul spatial [1,147,147,1]', () => tf.mul(x, tf.ones([1, 147, 147, 1])));
  time('step', () => tf.step(x));
  time('relu6 mask (step(y*(6-y)))', () => tf.step(tf.mul(x, tf.sub(6, x))));
  time('equal same', () => tf.equal(x, y));
  time('cast bool->f32', () => tf.cast(tf.equal(x, y), 'float32'));
  time('greater scalar', () => tf.greater(x, 0));
  time('where', () => tf.where(tf.greater(x, 0), y, tf.zerosLike(y)));
  time('maximum same', () => tf.maximum(x, y));
  time('addN 3', () => tf.addN([x, y, x]));
  time('div same', () => tf.div(x, y));
  time('reshape+sum last axis', () => tf.sum(tf.reshape(x, [1, 147, 147, 32, 2]), 4));
  time('clone (Identity)', () => tf.clone(x));
  time('pad', () => tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]));
  time('concat axis 3', () => tf.concat([x, y], 3));
  time('stack axis 3', () => tf.stack([x, y], 3));
}
main().catch((e) => console.log(String(e).slice(0, 300)));
