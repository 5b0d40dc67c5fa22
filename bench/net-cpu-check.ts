/** Sanity: a compiled bundled model also runs on the cpu backend (forward == predict, gradient finite). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadBundledArtifacts } from '../src/models/bundled';
import { compileGraphModel, compileLayersModel } from '../src/models/net/compile';
async function main() {
  await tf.setBackend('cpu');
  for (const name of ['MobileNetV2Mid', 'MobileNetV2'] as const) {
    const a = await loadBundledArtifacts(name);
    const graph = name === 'MobileNetV2Mid';
    const m = graph ? await tf.loadGraphModel(tf.io.fromMemory(a)) : await tf.loadLayersModel(tf.io.fromMemory(a));
    const net = graph ? compileGraphModel(m as tf.GraphModel, a) : compileLayersModel(m as tf.LayersModel);
    const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const d = tf.max(tf.abs(tf.sub(tf.softmax(net.forward(x)), m.predict(x) as tf.Tensor))).dataSync()[0];
    const t0 = Date.now();
    const g = tf.grad((z: tf.Tensor) => tf.sum(tf.slice(net.forward(z as tf.Tensor4D), [0, 1], [-1, 1])))(x);
    console.log(name, 'cpu backend: max|diff|', d, 'grad ms', Date.now() - t0, 'finite', tf.all(tf.isFinite(g)).dataSync()[0], 'norm', tf.norm(g).dataSync()[0]);
  }
}
main();
