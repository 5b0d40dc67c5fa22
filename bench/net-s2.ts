/** Strided conv2d input gradient on wasm: dilated dy vs polyphase vs the forward conv (CPU ms). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { conv2dInputGrad, flipConvFilter, phaseFilters, stridedInputGrad } from '../src/models/net/conv-grad';
async function main() {
  await tf.setBackend('wasm');
  const time = (label: string, f: () => tf.Tensor) => {
    for (let i = 0; i < 2; i++) tf.tidy(() => { f().dataSync(); });
    const c0 = process.cpuUsage();
    for (let i = 0; i < 10; i++) tf.tidy(() => { f().dataSync(); });
    const c = process.cpuUsage(c0);
    console.log(label.padEnd(50), ((c.user + c.system) / 1000 / 10).toFixed(2), 'ms cpu');
  };
  for (const [xs, k, co, pad] of [[[1, 224, 224, 3], 3, 48, 'same'], [[1, 224, 224, 3], 3, 32, 'valid'], [[1, 299, 299, 3], 3, 32, 'valid'], [[1, 35, 35, 288], 3, 384, 'valid'], [[1, 71, 71, 192], 3, 96, 'valid'], [[1, 17, 17, 192], 3, 64, 'valid']] as const) {
    const w = tf.randomNormal([k, k, xs[3], co]) as tf.Tensor4D;
    const x = tf.randomNormal(xs as unknown as [number, number, number, number]) as tf.Tensor4D;
    const dy = tf.conv2d(x, w, 2, pad);
    const g = { strides: [2, 2] as [number, number], pad, dilations: [1, 1] as [number, number] };
    const fl = flipConvFilter(w);
    time(`dilated ${xs} co${co} ${pad}`, () => conv2dInputGrad(dy, xs as unknown as number[], fl, w.shape, g));
    const ph = phaseFilters(w, [2, 2], false);
    time(`phases  ${xs} co${co} ${pad}`, () => stridedInputGrad(dy, xs as unknown as number[], ph, w.shape, g, false));
    time(`forward ${xs} co${co} ${pad}`, () => tf.conv2d(x, w, 2, pad));
  }
}
main();
