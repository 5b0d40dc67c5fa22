/**
 * ms per forward + input gradient (of sum of logits[:, target]) on wasm, per bundled model.
 *   npx tsx bench/net-grad.ts compiled|forward|plain|plain-fast|predict [model...] [--batches=1,4] [--reps=5] [--backend=wasm]
 * plain: tf.grad through model.predict with tfjs' own gradients; plain-fast: the same after
 * registerFastGradients(); predict: model.predict alone; forward: the compiled forward alone.
 * Modes run in separate processes: the registration is process-wide.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BundledName, loadBundledArtifacts } from '../src/models/bundled';
import { compileGraphModel, compileLayersModel, registerFastGradients } from '../src/models/net/compile';

const args = process.argv.slice(2);
const mode = args[0] ?? 'compiled';
const opt = (k: string, d: string) => (args.find((a) => a.startsWith(`--${k}=`)) ?? `=${d}`).split('=')[1];
const models = (args.slice(1).filter((a) => !a.startsWith('--')).length ? args.slice(1).filter((a) => !a.startsWith('--')) : ['InceptionV3', 'MobileNetV2', 'MobileNetV2Mid']) as BundledName[];
const batches = opt('batches', '1,4').split(',').map(Number);
const reps = Number(opt('reps', '5'));
const target = 1;

async function main() {
  await tf.setBackend(opt('backend', 'wasm'));
  await tf.ready();
  if (mode === 'plain-fast') registerFastGradients();
  for (const name of models) {
    const a = await loadBundledArtifacts(name);
    const size = name === 'InceptionV3' ? 299 : 224;
    const graph = name === 'MobileNetV2Mid';
    const model = graph ? await tf.loadGraphModel(tf.io.fromMemory(a)) : await tf.loadLayersModel(tf.io.fromMemory(a));
    let f: (x: tf.Tensor4D) => tf.Tensor2D;
    if (mode === 'compiled' || mode === 'forward') {
      const net = graph ? compileGraphModel(model as tf.GraphModel, a) : compileLayersModel(model as tf.LayersModel);
      f = (x) => net.forward(x);
    } else {
      f = (x) => model.predict(x) as tf.Tensor2D;
    }
    const loss = (x: tf.Tensor) => tf.sum(tf.slice(f(x as tf.Tensor4D), [0, target], [-1, 1]));
    for (const n of batches) {
      const x = tf.randomUniform([n, size, size, 3]) as tf.Tensor4D;
      const times: number[] = [];
      const cpu: number[] = [];
      try {
        for (let i = 0; i < reps + 1; i++) {
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          const g = tf.tidy(() => (mode === 'predict' ? (model.predict(x) as tf.Tensor) : mode === 'forward' ? f(x) : tf.grad(loss)(x)));
          await g.data();
          g.dispose();
          const c = process.cpuUsage(c0);
          times.push(performance.now() - t0);
          cpu.push((c.user + c.system) / 1000);
        }
        const first = times.shift()!;
        const firstCpu = cpu.shift()!;
        if (times.length === 0) {
          console.log(`${mode}/${tf.getBackend()}\t${name}\tbatch ${n}\tfirst call only: wall ${first.toFixed(0)} ms, cpu ${firstCpu.toFixed(0)} ms`);
          x.dispose();
          continue;
        }
        times.sort((p, q) => p - q);
        cpu.sort((p, q) => p - q);
        // wasm runs on one thread: CPU time is the work itself, wall time also counts other load.
        console.log(`${mode}/${tf.getBackend()}\t${name}\tbatch ${n}\twall median ${times[times.length >> 1].toFixed(0)} ms (min ${times[0].toFixed(0)})\tcpu median ${cpu[cpu.length >> 1].toFixed(0)} ms\tfirst call ${first.toFixed(0)} ms`);
      } catch (err) {
        console.log(`${mode}/${tf.getBackend()}\t${name}\tbatch ${n}\tFAILS: ${String(err).slice(0, 160)}`);
      }
      x.dispose();
    }
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
