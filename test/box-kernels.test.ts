import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { boxKernels, useBoxKernels } from '../src/backend/box-kernels';
import { clipToBox } from '../src/engine/attacks/box';
import { Mng } from '../src/engine/attacks/mng';
import type { AttackContext } from '../src/engine/attacks/base';
import { useBackend } from './support/tiny';
import { goldenEngine, runGolden } from './support/golden-cases';
import { compareBoxKernels, differing, fixture } from './support/box-kernels-check';

// The box kernels replace tfjs ops in every attack step; they must give the ops' bits exactly,
// on every path of their loops (four values at a time, and the last n mod 4 one by one).

t.before(() => useBackend());
t.teardown(() => useBoxKernels(true));

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
    const differ = compareBoxKernels(shape, 100 + s);
    t.ok(differ, `${shape}: kernels available`);
    for (const [kernel, n] of Object.entries(differ ?? {})) t.equal(n, 0, `${shape} ${kernel}`);
  });
});

t.test("on tfjs' threaded wasm build too, whose memory is shared", async (t) => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'support', 'box-kernels-check.ts'), '2'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(child.status, 0, `the check ran (${child.stderr.slice(-300)})`);
  const { shared, results } = JSON.parse(child.stdout) as { shared: boolean; results: Array<Record<string, number> | null> };
  t.ok(shared, 'the memory is a SharedArrayBuffer');
  results.forEach((differ, k) => {
    t.ok(differ, `fixture ${k}: kernels available`);
    for (const [kernel, n] of Object.entries(differ ?? {})) t.equal(n, 0, `fixture ${k} ${kernel}`);
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
