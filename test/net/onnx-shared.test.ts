/**
 * The ONNX front end on the real files in ../shared (PyTorch/torchvision exports with PyTorch's
 * own logits and input gradients in ref/, and the ONNX Model Zoo's int8 MobileNetV2): logits
 * against onnxruntime's plain inference of each file and against PyTorch, input gradients
 * against PyTorch autograd, the int8 model's float equivalent against the float export of the
 * same weights, and a fixed-batch file serving batches. Where ../shared is absent the test
 * says what it skipped (the same checks run on tiny models in onnx-import.test.ts).
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { compileOnnxModel } from '../../src/models/net/onnx-front/compile';
import { OnnxGradientNet, onnxRuntime } from '../../src/models/onnx/net';
import type { ModelSpec } from '../../src/models/types';
import { cosine, maxAbs, maxDiff, relErr } from '../support/compare';

const SHARED = resolve(__dirname, '../../../shared');
const ort = onnxRuntime();
const f32 = (file: string) => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const toNhwc = (x: Float32Array, h: number, w: number) => {
  const out = new Float32Array(x.length);
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let z = 0; z < w; z++) out[(y * w + z) * 3 + c] = x[(c * h + y) * w + z];
  return out;
};
const top = (z: ArrayLike<number>, k: number) => Array.from(z).map((v, i) => [v, i]).sort((p, q) => q[0] - p[0]).slice(0, k).map((p) => p[1]);

/** Logits tolerance: relative to the largest logit (float32 rounding over ~50 layers). */
const LOGIT_TOL = 2e-5;
const CASES = ['random', 'cat-chelsea', 'coffee'];
const spec = (id: string): ModelSpec => ({
  id, source: { kind: 'folder', path: '/dev/null' }, format: 'onnx', inputSize: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
  labels: Array.from({ length: 1000 }, (_, i) => `c${i}`), endsInSoftmax: false, alignCorners: false,
});

async function plain(file: string, nchw: Float32Array): Promise<Float32Array> {
  const s = await ort!.InferenceSession.create(file);
  try {
    const r = await s.run({ [s.inputNames[0]]: new ort!.Tensor('float32', nchw, [1, 3, 224, 224]) });
    return r[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

const exportDirs = existsSync(join(SHARED, 'onnx')) ? readdirSync(join(SHARED, 'onnx')).filter((d) => existsSync(join(SHARED, 'onnx', d, 'model.onnx'))) : [];
if (!ort) t.comment('skipped: onnxruntime-node is not installed');
else if (exportDirs.length === 0) t.comment(`skipped: ${SHARED}/onnx is absent (no PyTorch exports to compare with); tiny-model checks run in onnx-import.test.ts`);

for (const id of ort ? exportDirs : []) {
  t.test(`${id}: logits vs onnxruntime and PyTorch, gradient vs PyTorch`, async (t) => {
    await tf.setBackend('wasm');
    const dir = join(SHARED, 'onnx', id);
    const net = compileOnnxModel(readFileSync(join(dir, 'model.onnx')), { file: join(dir, 'model.onnx'), inputSize: [224, 224], layout: 'NCHW' });
    const onnx = await OnnxGradientNet.create(spec(id), net.graph(), 2);
    t.teardown(async () => {
      await onnx.dispose();
      net.dispose();
    });
    for (const c of CASES) {
      const nchw = f32(join(dir, 'ref', `${c}.input.f32.bin`));
      const x = toNhwc(nchw, 224, 224);
      const torchLogits = f32(join(dir, 'ref', `${c}.logits.f32.bin`));
      const scale = Math.max(1, maxAbs(torchLogits));
      const ortLogits = await plain(join(dir, 'model.onnx'), nchw);
      const ours = tf.tidy(() => net.forward(tf.tensor4d(x, [1, 224, 224, 3])).dataSync() as Float32Array);
      // PyTorch's loss is the class-42 cross-entropy: sign -1 on log p(42).
      const { logits, dx } = await onnx.run(x, 1, [{ cls: 42, sign: -1, logit: false }]);
      const dOrt = maxDiff(ours, ortLogits), dTorch = maxDiff(logits, torchLogits);
      t.ok(dOrt <= LOGIT_TOL * scale, `${c}: tfjs program logits vs onnxruntime plain: max diff ${dOrt.toExponential(2)} (largest logit ${scale.toFixed(2)})`);
      t.ok(dTorch <= LOGIT_TOL * scale, `${c}: exported graph logits vs PyTorch: max diff ${dTorch.toExponential(2)}`);
      const ref = toNhwc(f32(join(dir, 'ref', `${c}.grad.f32.bin`)), 224, 224);
      const cos = cosine(dx!, ref), e = relErr(dx!, ref);
      t.ok(cos >= 0.9999 && e <= 1e-2, `${c}: input gradient vs PyTorch autograd: cosine ${cos.toFixed(6)}, relative error ${e.toExponential(2)}`);
    }
  });
}

const int8Dir = join(SHARED, 'models/mobilenet_v2_100_224_onnx_int8');
const floatDir = join(SHARED, 'onnx/mobilenet_v2_torch_float');
if (ort && existsSync(int8Dir) && existsSync(floatDir)) {
  t.test('int8 QLinear model: attacked as its float equivalent; a fixed-batch file serves batches', async (t) => {
    await tf.setBackend('wasm');
    const file = join(int8Dir, 'mobilenetv2-12-int8.onnx');
    const net = compileOnnxModel(readFileSync(file), { file, inputSize: [224, 224], layout: 'NCHW' });
    t.equal(net.dequantized, true, 'reported as dequantized');
    const onnx = await OnnxGradientNet.create(spec('int8'), net.graph(), 2);
    t.teardown(async () => {
      await onnx.dispose();
      net.dispose();
    });
    const xs = CASES.map((c) => toNhwc(f32(join(floatDir, 'ref', `${c}.input.f32.bin`)), 224, 224));
    const batch = new Float32Array(xs.length * xs[0].length);
    xs.forEach((x, i) => batch.set(x, i * x.length));
    const both = await onnx.run(batch, xs.length, xs.map(() => ({ cls: 42, sign: -1 as const, logit: false })));
    for (const [i, c] of CASES.entries()) {
      const alone = await onnx.run(xs[i], 1, [{ cls: 42, sign: -1, logit: false }]);
      const rows = both.logits.subarray(i * 1000, (i + 1) * 1000);
      t.ok(maxDiff(rows, alone.logits) <= 1e-5 * Math.max(1, maxAbs(alone.logits)), `${c}: row ${i} of a batch of 3 equals the image alone (the file fixes batch 1)`);
      // The float export holds exactly the dequantized weights (shared/onnx/SOURCES.md): same function.
      const torchLogits = f32(join(floatDir, 'ref', `${c}.logits.f32.bin`));
      const d = maxDiff(alone.logits, torchLogits);
      t.ok(d <= 1e-4 * Math.max(1, maxAbs(torchLogits)), `${c}: float equivalent vs the float export's PyTorch logits: max diff ${d.toExponential(2)}`);
      const grad = toNhwc(f32(join(floatDir, 'ref', `${c}.grad.f32.bin`)), 224, 224);
      t.ok(cosine(alone.dx!, grad) >= 0.999, `${c}: gradient vs PyTorch's on the float twin: cosine ${cosine(alone.dx!, grad).toFixed(5)}`);
      // Against the int8 interpreter itself (quantized activations): the same top class on the images.
      const q = await plain(file, f32(join(floatDir, 'ref', `${c}.input.f32.bin`)));
      const overlap = top(q, 5).filter((k) => top(alone.logits, 5).includes(k)).length;
      t.comment(`${c}: int8 onnxruntime top-1 ${top(q, 1)[0]}, float equivalent top-1 ${top(alone.logits, 1)[0]}, top-5 overlap ${overlap}/5, max logit diff ${maxDiff(q, alone.logits).toFixed(3)}`);
      if (c !== 'random') t.equal(top(alone.logits, 1)[0], top(q, 1)[0], `${c}: same top-1 as the int8 interpreter`);
    }
  });
} else if (ort) t.comment(`skipped: ${int8Dir} or ${floatDir} absent (int8 / fixed-batch checks)`);
