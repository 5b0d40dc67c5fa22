/** Compiled gradient (wasm) vs tfjs' own gradient of the plain model (cpu, original gradients). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BundledName, loadBundledArtifacts } from '../src/models/bundled';
import { compileGraphModel, compileLayersModel } from '../src/models/net/compile';
async function main() {
  const name = (process.argv[2] ?? 'MobileNetV2Mid') as BundledName;
  const size = name === 'InceptionV3' ? 299 : 224, graph = name === 'MobileNetV2Mid';
  const a = await loadBundledArtifacts(name);
  await tf.setBackend('cpu');
  const x0 = tf.randomUniform([1, size, size, 3], 0, 1, 'float32', 42).dataSync() as Float32Array;
  const load = async () => graph ? await tf.loadGraphModel(tf.io.fromMemory(a)) : await tf.loadLayersModel(tf.io.fromMemory(a));
  const m1 = await load();
  const t0 = Date.now();
  const ref = tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(tf.slice(m1.predict(z) as tf.Tensor, [0, 1], [-1, 1])))(tf.tensor4d(x0, [1, size, size, 3])).dataSync());
  console.log('cpu plain grad ms', Date.now() - t0);
  await tf.setBackend('wasm');
  const m2 = await load();
  const net = graph ? compileGraphModel(m2 as tf.GraphModel, a) : compileLayersModel(m2 as tf.LayersModel);
  const got = tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(tf.slice(tf.softmax(net.forward(z as tf.Tensor4D)), [0, 1], [-1, 1])))(tf.tensor4d(x0, [1, size, size, 3])).dataSync());
  let dmax = 0, rmax = 0, dot = 0, n1 = 0, n2 = 0;
  for (let i = 0; i < ref.length; i++) { dmax = Math.max(dmax, Math.abs(ref[i] - got[i])); rmax = Math.max(rmax, Math.abs(ref[i])); dot += ref[i] * got[i]; n1 += ref[i] ** 2; n2 += got[i] ** 2; }
  console.log(name, 'max|diff|', dmax, 'max|ref|', rmax, 'cosine', dot / Math.sqrt(n1 * n2), 'norms', Math.sqrt(n1), Math.sqrt(n2));
}
main();
