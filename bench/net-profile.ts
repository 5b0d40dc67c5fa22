/** Per-kernel time breakdown of one compiled forward+grad: npx tsx bench/net-profile.ts InceptionV3 [batch] */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BundledName, loadBundledArtifacts } from '../src/models/bundled';
import { compileGraphModel, compileLayersModel } from '../src/models/net/compile';

async function main() {
  if (process.env.WASM_THREADS) require('../src/backend/wasm-threaded').registerThreadedWasm(Number(process.env.WASM_THREADS));
  await tf.setBackend('wasm');
  const name = (process.argv[2] ?? 'InceptionV3') as BundledName;
  const n = Number(process.argv[3] ?? 1);
  const a = await loadBundledArtifacts(name);
  const size = name === 'InceptionV3' ? 299 : 224;
  const graph = name === 'MobileNetV2Mid';
  const model = graph ? await tf.loadGraphModel(tf.io.fromMemory(a)) : await tf.loadLayersModel(tf.io.fromMemory(a));
  const net = graph ? compileGraphModel(model as tf.GraphModel, a) : compileLayersModel(model as tf.LayersModel);
  const x = tf.randomUniform([n, size, size, 3]) as tf.Tensor4D;
  const run = () => tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(tf.slice(net.forward(z as tf.Tensor4D), [0, 1], [-1, 1])))(x));
  run().dispose();
  let t0 = performance.now();
  tf.tidy(() => net.forward(x)).dataSync();
  console.log('forward only', (performance.now() - t0).toFixed(0), 'ms');
  t0 = performance.now();
  run().dataSync();
  console.log('forward+grad', (performance.now() - t0).toFixed(0), 'ms');
  const prof = await tf.profile(() => { run().dispose(); });
  const by = new Map<string, { ms: number; n: number }>();
  let total = 0;
  for (const k of prof.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    total += ms;
    const key = k.name;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += ms; e.n++;
    by.set(key, e);
  }
  console.log('total kernel ms', total.toFixed(0));
  for (const [k, v] of [...by].sort((p, q) => q[1].ms - p[1].ms).slice(0, 20)) console.log(k.padEnd(28), v.ms.toFixed(1).padStart(8), String(v.n).padStart(5));
  if (process.argv[4] === 'conv') {
    const convs = prof.kernels.filter((k) => k.name.includes('Conv')).map((k) => [k.name, (k.kernelTimeMs as number).toFixed(1), JSON.stringify(k.inputShapes), JSON.stringify(k.outputShapes)].join(' '));
    console.log(convs.join('\n'));
  }
}
main();
