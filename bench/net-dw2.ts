/** Strided depthwise input gradient on wasm: dilated dy vs polyphase vs the forward (CPU ms). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { depthwiseInputGrad, flipDepthwiseFilter, phaseFilters, stridedInputGrad } from '../src/models/net/conv-grad';
async function main() {
  await tf.setBackend('wasm');
  const time = (label: string, f: () => tf.Tensor) => {
    for (let i = 0; i < 2; i++) tf.tidy(() => { f().dataSync(); });
    const c0 = process.cpuUsage();
    for (let i = 0; i < 10; i++) tf.tidy(() => { f().dataSync(); });
    const c = process.cpuUsage(c0);
    console.log(label.padEnd(50), ((c.user + c.system) / 1000 / 10).toFixed(2), 'ms cpu');
  };
  for (const xs of [[1, 112, 112, 96], [1, 56, 56, 144], [1, 28, 28, 192], [1, 14, 14, 576], [4, 112, 112, 96]]) {
    const w = tf.randomNormal([3, 3, xs[3], 1]) as tf.Tensor4D;
    const x = tf.randomNormal(xs as [number, number, number, number]) as tf.Tensor4D;
    const dy = tf.depthwiseConv2d(x, w, 2, 'same');
    const g = { strides: [2, 2] as [number, number], pad: 'same' as const, dilations: [1, 1] as [number, number] };
    const fl = flipDepthwiseFilter(w), ph = phaseFilters(w, [2, 2], true);
    time(`dilated ${xs}`, () => depthwiseInputGrad(dy, xs, fl, w.shape, g));
    time(`phases  ${xs}`, () => stridedInputGrad(dy, xs, ph, w.shape, g, true));
    time(`forward ${xs}`, () => tf.depthwiseConv2d(x, w, 2, 'same'));
  }
}
main();
