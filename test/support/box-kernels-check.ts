/**
 * Fixtures for the box kernels' tests (test/box-kernels.test.ts), and a check that runs on its own:
 * `node --import tsx test/support/box-kernels-check.ts THREADS` starts the wasm backend with that
 * many threads (2 and up: tfjs' threaded build, whose memory is shared) and prints, as JSON,
 * whether the memory is shared and how many values the kernels got wrong against the ops.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { boxKernels } from '../../src/backend/box-kernels';
import { clipToBox, insideBox } from '../../src/engine/attacks/box';
import { seededRandom } from '../../src/engine/random';

/** Differences by bits (Object.is: -0 and +0 differ, NaN equals NaN). */
export function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

/**
 * A box around a clean image on the 0..255 grid with eps e, an image in it with values exactly on
 * the faces, zeros of both signs among the gradients, and a step that crosses both faces.
 */
export function fixture(shape: [number, number, number, number], seed: number, eps = 16) {
  const r = seededRandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const clean = Float32Array.from({ length: n }, () => Math.round(r() * 255));
  const lower = clean.map((v) => Math.max(v - eps, 0));
  const upper = clean.map((v) => Math.min(v + eps, 255));
  const x = clean.map((v, i) => {
    const pick = r();
    if (pick < 0.1) return lower[i];
    if (pick < 0.2) return upper[i];
    return Math.min(Math.max(v + (r() - 0.5) * 2 * eps, lower[i]), upper[i]);
  });
  const g = Float32Array.from({ length: n }, () => {
    const pick = r();
    if (pick < 0.05) return 0;
    if (pick < 0.1) return -0;
    return (r() - 0.5) * (pick < 0.5 ? 4 : 400);
  });
  const d = Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? -0 : (r() - 0.5) * 3 * eps));
  const tensor = (v: Float32Array) => tf.tensor4d(v, shape);
  return { clean: tensor(clean), lower: tensor(lower), upper: tensor(upper), x: tensor(x), g: tensor(g), d: tensor(d) };
}

/** Every kernel against its ops on one fixture: the count of values that differ, per kernel. */
export function compareBoxKernels(shape: [number, number, number, number], seed: number): Record<string, number> | undefined {
  const f = fixture(shape, seed);
  const kernels = boxKernels(f.lower, f.upper, f.x, f.g, f.d);
  if (!kernels) return undefined;
  const scales = [0.37, 1.3, 2.1].slice(0, shape[0]).map(Math.fround);
  const scaleT = tf.tensor4d(scales, [shape[0], 1, 1, 1]);
  const out: Record<string, number> = {};
  for (const square of [false, true]) {
    const norm = (v: tf.Tensor) => tf.sum(square ? tf.square(v) : tf.abs(v), [1, 2, 3]).dataSync();
    out[`sums ${square ? 'l2' : 'l1'}`] = differing(kernels.sums(f.g, square), norm(f.g));
    const inside = insideBox(tf.add(f.x, tf.mul(f.g, scaleT)) as tf.Tensor4D, f.lower, f.upper);
    out[`maskedSums ${square ? 'l2' : 'l1'}`] = differing(kernels.maskedSums(f.x, f.g, scales, square), norm(tf.mul(f.g, inside)));
  }
  const stepOps = tf.sub(clipToBox(tf.add(f.x, tf.mul(f.g, scaleT)) as tf.Tensor4D, f.lower, f.upper), f.x);
  out.step = differing(kernels.step(f.x, f.g, scales).dataSync(), stepOps.dataSync());
  const projected = clipToBox(tf.add(f.x, f.d) as tf.Tensor4D, f.lower, f.upper);
  out.addClip = differing(kernels.addClip(f.x, f.d).dataSync(), projected.dataSync());
  return out;
}

async function main(threads: number): Promise<void> {
  await initBackend('wasm', { wasmThreads: threads });
  const wasm = (tf.backend() as unknown as { wasm: { wasmMemory?: { buffer: ArrayBufferLike }; asm?: { memory?: { buffer: ArrayBufferLike } } } }).wasm;
  const shared = (wasm.wasmMemory ?? wasm.asm?.memory)?.buffer instanceof SharedArrayBuffer;
  const results = [compareBoxKernels([2, 1, 3, 3], 1), compareBoxKernels([1, 64, 48, 3], 2)];
  // Exits: the threaded build's pthread workers would keep the process alive.
  process.stdout.write(JSON.stringify({ shared, results }) + '\n', () => process.exit(0));
}

if (require.main === module) main(Number(process.argv[2] ?? 1)).catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
