/**
 * Passes with the network in onnxruntime (src/engine/onnx-passes.ts) on a real bundled model:
 * each request's bytes do not depend on its batch, withProbs adds the probabilities a forward
 * pass gives, the directions agree with the tfjs runtime's (preprocessing and diverse draw
 * included), and nothing leaks. Also how loadPasses picks the runtime and falls back.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { splitGradProbs, type GradRequest } from '../../src/engine/gradients';
import { loadPasses, sessionThreads, WIDE_MIN_MACS, type PassOptions } from '../../src/engine/load-passes';
import type { ModelPasses } from '../../src/engine/passes';
import { folderSaveHandler } from '../../src/models/folder-io';
import { bundledSpecs, readFolderSpec } from '../../src/models/registry';
import { tinyImage, useBackend } from '../support/tiny';
import { randomizeWeights, tinyLayersModel } from '../support/tiny-nets';
import { cosine } from '../support/compare';

const quiet = { info: () => {}, warn: () => {} };
const options = (runtime: PassOptions['runtime'], backend = 'wasm'): PassOptions => ({ runtime, backend, threads: 1, microBatch: Infinity });

const img = (w: number, h: number, seed: number) => Float32Array.from(tinyImage(w, h, seed).rgb);
const REQS: GradRequest[] = [
  { image: img(64, 48, 1), height: 48, width: 64, cls: 0, towards: true },
  { image: img(40, 50, 2), height: 50, width: 40, cls: 3, towards: false },
  { image: img(32, 32, 3), height: 32, width: 32, cls: 1, towards: true, diverse: { scale: 1.05, maxScale: 1.1, offsetY: 0.3, offsetX: 0.9 } },
  { image: img(48, 40, 4), height: 40, width: 48, cls: 2, towards: true, logit: true },
];


let onnx: ModelPasses;
let tfjs: ModelPasses;

t.before(async () => {
  await useBackend();
  const [spec] = bundledSpecs(['mobilenet_v2']);
  onnx = (await loadPasses(spec, quiet, options('onnx'))).passes;
  tfjs = (await loadPasses(spec, quiet, options('tfjs'))).passes;
});
t.teardown(async () => {
  await onnx.dispose();
  await tfjs.dispose();
});

t.test('loadPasses: onnx and tfjs runtimes as asked', async (t) => {
  t.equal(onnx.runtime, 'onnx');
  t.equal(tfjs.runtime, 'tfjs');
});

t.test('sessionThreads: wide threads that wait without spinning for a large network or a sole model, the worker share for the rest', async (t) => {
  t.same(sessionThreads(WIDE_MIN_MACS, { threads: 1, wideThreads: 2 }), { threads: 2, spin: false }, 'large');
  t.same(sessionThreads(WIDE_MIN_MACS - 1, { threads: 1, wideThreads: 2 }), { threads: 1, spin: true }, 'small');
  t.same(sessionThreads(1e12, { threads: 1 }), { threads: 1, spin: true }, 'no wide threads configured');
  t.same(sessionThreads(1e12, { threads: 2, wideThreads: 2 }), { threads: 2, spin: true }, 'wide threads no more than the share: as before');
  t.same(sessionThreads(1, { threads: 1, wideThreads: 2, soleModel: true }), { threads: 2, spin: false }, 'small, but the only model');
  t.same(sessionThreads(1, { threads: 1, soleModel: true }), { threads: 1, spin: true }, 'the only model, no wide threads configured');
});

t.test('a request gets the same bytes alone and inside a mixed batch', async (t) => {
  const together = await onnx.directions(REQS);
  for (const [i, r] of REQS.entries()) {
    const [alone] = await onnx.directions([r]);
    t.same(Buffer.from(alone.buffer), Buffer.from(together[i].buffer), `request ${i}`);
  }
});

t.test('the directions agree with the tfjs runtime (towards, away, diverse draw, logit)', async (t) => {
  const a = await onnx.directions(REQS);
  const b = await tfjs.directions(REQS);
  REQS.forEach((r, i) => {
    t.equal(a[i].length, r.height * r.width * 3, `request ${i}: one value per user pixel channel`);
    const c = cosine(a[i], b[i]);
    // Not to rounding: a ReLU unit within float error of 0 may switch on one side only (see test/net/onnx.test.ts).
    t.ok(c > 0.999, `request ${i}: cosine with the tfjs direction ${c.toFixed(6)}`);
  });
  // A direction that ignored the request would still be some gradient: check they are not all alike.
  t.ok(cosine(a[0].subarray(0, 32 * 32 * 3), a[2]) < 0.9, 'different requests, different directions');
});

t.test('withProbs: the same gradient bytes, plus the probabilities a forward pass gives', async (t) => {
  const [gradOnly] = await onnx.directions([REQS[0]]);
  const [both] = await onnx.directions([{ ...REQS[0], withProbs: true }]);
  const { grad, probs } = splitGradProbs(both, REQS[0]);
  t.same(Buffer.from(grad.slice().buffer), Buffer.from(gradOnly.buffer), 'gradient bytes unchanged');
  const [separate] = await onnx.probabilities([REQS[0]]);
  const [viaTfjs] = await tfjs.probabilities([REQS[0]]);
  const diff = Math.max(...[...probs].map((p, i) => Math.abs(p - separate[i])));
  t.ok(diff < 1e-6, `equal to a forward-only pass (max |diff| ${diff.toExponential(1)})`);
  const diffTfjs = Math.max(...[...separate].map((p, i) => Math.abs(p - viaTfjs[i])));
  t.ok(diffTfjs < 1e-4, `equal to tfjs's probabilities (max |diff| ${diffTfjs.toExponential(1)})`);
});

t.test('no tensors leak from onnx passes', async (t) => {
  await onnx.directions(REQS.slice(0, 2));
  const before = tf.memory().numTensors;
  await onnx.directions(REQS);
  await onnx.probabilities(REQS);
  t.equal(tf.memory().numTensors, before);
});

t.test('auto: onnx on wasm, tfjs on other tfjs backends; a model the exporter cannot take falls back to tfjs', async (t) => {
  const [spec] = bundledSpecs(['mobilenet_v2']);
  const onCpu = await loadPasses(spec, quiet, options('auto', 'cpu'));
  t.equal(onCpu.passes.runtime, 'tfjs', 'auto with the cpu backend keeps tfjs');
  await onCpu.passes.dispose();

  // A user folder model with an ELU layer: the compiler runs it through tfjs (a fallback), so it cannot be exported.
  const dir = mkdtempSync(join(tmpdir(), 'advserve-onnx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const model = tinyLayersModel(true);
  randomizeWeights(model, 5);
  await model.save(folderSaveHandler(dir));
  writeFileSync(join(dir, 'advserve.json'), JSON.stringify({ id: 'elu_net', labels: ['a', 'b', 'c'], inputSize: [9, 10], inputRange: [0, 1] }));
  const folder = await readFolderSpec(dir);
  const warnings: string[] = [];
  const auto = await loadPasses(folder, { info: () => {}, warn: (_o: object, m: string) => warnings.push(m) }, options('auto'));
  t.equal(auto.passes.runtime, 'tfjs', 'auto falls back to tfjs');
  t.match(warnings, [/cannot run in onnxruntime/], 'and says so');
  const [g] = await auto.passes.directions([{ image: img(10, 9, 6), height: 9, width: 10, cls: 1, towards: true }]);
  t.equal(g.length, 9 * 10 * 3, 'the fallback serves');
  await auto.passes.dispose();
  await t.rejects(loadPasses(folder, quiet, options('onnx')), /model elu_net: cannot run in onnxruntime/, 'runtime onnx refuses it');
});

t.test('without onnxruntime-node: auto stays on tfjs, onnx is refused with how to fix it', async (t) => {
  const { wantsOnnx } = t.mockRequire<typeof import('../../src/engine/load-passes')>('../../src/engine/load-passes', {
    '../../src/models/onnx/net': { onnxRuntime: () => undefined },
  });
  t.equal(wantsOnnx('auto', 'wasm'), false, 'auto: tfjs');
  t.equal(wantsOnnx('tfjs', 'wasm'), false, 'tfjs: tfjs');
  t.throws(() => wantsOnnx('onnx', 'wasm'), /ADVSERVE_RUNTIME=onnx but onnxruntime-node is not installed/);
  // And with it installed (this machine), auto takes it on wasm only.
  const real = await import('../../src/engine/load-passes');
  t.equal(real.wantsOnnx('auto', 'wasm'), true);
  t.equal(real.wantsOnnx('auto', 'tensorflow'), false);
});
