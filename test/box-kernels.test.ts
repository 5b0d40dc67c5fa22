import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { boxKernels, useBoxKernels } from '../src/backend/box-kernels';
import { clipToBox, insideBox } from '../src/engine/attacks/box';
import { Mng } from '../src/engine/attacks/mng';
import type { AttackContext } from '../src/engine/attacks/base';
import { seededRandom } from '../src/engine/random';
import { useBackend } from './support/tiny';
import { goldenEngine, runGolden } from './support/golden-cases';

// The box kernels replace tfjs ops in every attack step; they must give the ops' bits exactly,
// on every path of their loops (four values at a time, and the last n mod 4 one by one).

t.before(() => useBackend());
t.teardown(() => useBoxKernels(true));

/** Differences by bits (Object.is: -0 and +0 differ, NaN equals NaN). */
function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

/**
 * A box around a clean image on the 0..255 grid with eps e, an image in it with values exactly on
 * the faces, zeros of both signs among the gradients, and a step that crosses both faces.
 */
function fixture(shape: [number, number, number, number], seed: number, eps = 16) {
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

const SHAPES: Array<[number, number, number, number]> = [
  [1, 1, 1, 1],
  [1, 1, 1, 3],
  [1, 1, 2, 3],
  [2, 1, 3, 3],
  [3, 5, 7, 3],
  [1, 31, 17, 3],
  [2, 64, 48, 3],
];

t.test('each kernel gives the bits of the tfjs ops it replaces', async (t) => {
  SHAPES.forEach((shape, s) => {
    const f = fixture(shape, 100 + s);
    const kernels = boxKernels(f.lower, f.upper, f.x, f.g, f.d);
    t.ok(kernels, `${shape}: kernels available`);
    if (!kernels) return;
    const scales = [0.37, 1.3, 2.1].slice(0, shape[0]).map(Math.fround);
    const scaleT = tf.tensor4d(scales, [shape[0], 1, 1, 1]);
    const axes = [1, 2, 3];
    for (const square of [false, true]) {
      const norm = (v: tf.Tensor) => tf.sum(square ? tf.square(v) : tf.abs(v), axes).dataSync();
      t.equal(differing(kernels.sums(f.g, square), norm(f.g)), 0, `${shape} sums, square ${square}`);
      const inside = insideBox(tf.add(f.x, tf.mul(f.g, scaleT)) as tf.Tensor4D, f.lower, f.upper);
      t.equal(differing(kernels.maskedSums(f.x, f.g, scales, square), norm(tf.mul(f.g, inside))), 0, `${shape} maskedSums, square ${square}`);
    }
    const stepOps = tf.sub(clipToBox(tf.add(f.x, tf.mul(f.g, scaleT)) as tf.Tensor4D, f.lower, f.upper), f.x);
    t.equal(differing(kernels.step(f.x, f.g, scales).dataSync(), stepOps.dataSync()), 0, `${shape} step`);
    const projected = clipToBox(tf.add(f.x, f.d) as tf.Tensor4D, f.lower, f.upper);
    t.equal(differing(kernels.addClip(f.x, f.d).dataSync(), projected.dataSync()), 0, `${shape} addClip`);
  });
});

t.test('a kernel that is wrong by one rounding fails the comparison', async (t) => {
  // The check above can fail: a step computed in float64 and rounded once differs somewhere.
  const f = fixture([1, 31, 17, 3], 7);
  const [x, g, lo, hi] = [f.x, f.g, f.lower, f.upper].map((v) => v.dataSync());
  const scale = Math.fround(0.37);
  const wide = x.map((v, i) => Math.min(Math.max(v + g[i] * scale, lo[i]), hi[i]) - v);
  const ops = tf.sub(clipToBox(tf.add(f.x, tf.mul(f.g, scale)) as tf.Tensor4D, f.lower, f.upper), f.x).dataSync();
  t.ok(differing(wide, ops) > 0, 'float64 arithmetic is told apart');
});

t.test('mng steps: the same bits with the kernels and with the ops, L1 and L2, at the service size', async (t) => {
  const f = fixture([1, 384, 512, 3], 11);
  const ctx: AttackContext = { clean: f.clean, lower: f.lower, upper: f.upper, eps: 16, iterations: 20, random: Math.random };
  for (const norm of ['l1', 'l2'] as const) {
    const mng = new Mng(norm);
    const before = tf.memory().numTensors;
    const withKernels = mng.modelStep(f.x, f.g, ctx);
    t.equal(tf.memory().numTensors, before + 1, `${norm}: one tensor out, nothing else left`);
    useBoxKernels(false);
    const withOps = mng.modelStep(f.x, f.g, ctx);
    useBoxKernels(true);
    t.equal(differing(withKernels.dataSync(), withOps.dataSync()), 0, `${norm}: same bits`);
    t.ok(withKernels.abs().max().dataSync()[0] > 0, `${norm}: a step that moves`);
    tf.dispose([withKernels, withOps]);
  }
});

t.test('every golden attack: the same output bytes with the kernels off', async (t) => {
  // The golden fixture pins the bytes with the kernels on (useBackend loads them).
  const engine = goldenEngine();
  const on = await runGolden(engine);
  useBoxKernels(false);
  try {
    t.same(await runGolden(engine), on, 'same bytes');
  } finally {
    useBoxKernels(true);
    await engine.dispose();
  }
});

t.test('off the wasm backend, or for tensors of another shape, there are no kernels', async (t) => {
  const f = fixture([1, 2, 2, 3], 3);
  t.notOk(boxKernels(f.lower, f.upper, f.x, tf.zeros([1, 2, 3, 3])), 'another shape');
  t.notOk(boxKernels(f.lower, f.upper, tf.zeros([1, 2, 2, 3], 'int32')), 'another dtype');
  await tf.setBackend('cpu');
  try {
    const g = fixture([1, 2, 2, 3], 3);
    t.notOk(boxKernels(g.lower, g.upper, g.x), 'cpu backend');
  } finally {
    await useBackend();
  }
});
