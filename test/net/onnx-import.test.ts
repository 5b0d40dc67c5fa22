/**
 * The ONNX front end on tiny models the test writes itself (every supported op family): the
 * compiled program's logits equal onnxruntime's plain inference of the same file, its tfjs input
 * gradient equals the exported graph's and central finite differences of the plain session;
 * unsupported ops and bad inputs fail naming the op, the node and the file.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { compileOnnxModel } from '../../src/models/net/onnx-front/compile';
import { OnnxGradientNet, onnxRuntime } from '../../src/models/onnx/net';
import type { ModelSpec } from '../../src/models/types';
import { OnnxBuilder } from '../support/onnx-builder';
import { fill, rng, size } from '../support/random';
import { maxAbs, maxDiff, relErr } from '../support/compare';

const ort = onnxRuntime();

/** Conv family, activations, pooling, broadcasting arithmetic, concat/split/slice/pad, shape chains, Gemm, final softmax. */
function convNet(seed: number): { bytes: Uint8Array; h: number; w: number; classes: number } {
  const r = rng(seed);
  const b = new OnnxBuilder();
  const W = (...dims: number[]) => b.floats(dims, fill(size(dims), r, 0.5));
  const x = 'input';
  let v = b.one('Conv', [x, W(8, 3, 3, 3), W(8)], { strides: [2, 1], pads: [1, 0, 0, 1] });
  v = b.one('BatchNormalization', [v, b.floats([8], fill(8, r).map((a) => 1 + 0.3 * a)), W(8), W(8), b.floats([8], fill(8, r).map((a) => 0.6 + Math.abs(a)))], { epsilon: { f: 1e-3 } });
  v = b.one('Relu', [v]);
  v = b.one('Conv', [v, W(8, 1, 3, 3)], { group: 8, dilations: [2, 2], pads: [2, 2, 2, 2] });
  v = b.one('Clip', [v, b.floats([], [0]), b.floats([], [6])]);
  v = b.one('Conv', [v, W(8, 4, 1, 1), W(8)], { group: 2 });
  v = b.one('LeakyRelu', [v], { alpha: { f: 0.1 } });
  // Squeeze-excitation gate: a computed [N, C, 1, 1] broadcast against [N, C, H, W].
  const gate = b.one('HardSigmoid', [b.one('Conv', [b.one('GlobalAveragePool', [v]), W(8, 8, 1, 1), W(8)])], { alpha: { f: 1 / 6 }, beta: { f: 0.5 } });
  v = b.one('HardSwish', [b.one('Mul', [v, gate])]);
  v = b.one('MaxPool', [v], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  v = b.one('Add', [v, W(8, 1, 1)]);
  v = b.one('Sub', [v, b.floats([], [0.25])]);
  v = b.one('Div', [v, b.floats([1, 8, 1, 1], fill(8, r).map((a) => 1.5 + a))]);
  v = b.one('AveragePool', [v], { kernel_shape: [2, 2], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 1 });
  const side = b.one('Sigmoid', [b.one('Mul', [v, b.floats([], [1.3])])]);
  v = b.one('Concat', [v, side], { axis: 1 });
  const [p, q] = b.add('Split', [v, b.ints([8, 8])], { axis: 1 }, 2);
  v = b.one('Add', [p, b.one('Tanh', [q])]);
  v = b.one('Slice', [v, b.ints([0]), b.ints([-1]), b.ints([2])]);
  v = b.one('Pad', [v, b.ints([0, 0, 1, 0, 0, 0, 0, 1]), b.floats([], [0.5])]);
  v = b.one('Dropout', [b.one('Identity', [v])]);
  v = b.one('ReduceMean', [v], { axes: [2, 3], keepdims: 0 });
  // PyTorch's dynamic-batch reshape: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
  const batch = b.one('Unsqueeze', [b.one('Gather', [b.one('Shape', [v]), b.ints([0])], { axis: 0 }), b.ints([0])]);
  v = b.one('Reshape', [v, b.one('Concat', [b.one('Reshape', [batch, b.ints([1])]), b.ints([8])], { axis: 0 })]);
  v = b.one('Gemm', [v, W(5, 8), W(5)], { transB: 1, alpha: { f: 6 }, beta: { f: 1.5 } });
  const out = b.one('Softmax', [v], { axis: 1 });
  return { bytes: b.encode({ name: x, dims: [null, 3, 9, 10] }, out, 14), h: 9, w: 10, classes: 5 };
}

/** ShuffleNet's channel shuffle (Reshape -> Transpose -> Reshape), a flatten that needs NCHW order, MatMul, Squeeze/Unsqueeze; batch fixed at 1 in the file. */
function shuffleNet(seed: number): { bytes: Uint8Array; h: number; w: number; classes: number } {
  const r = rng(seed);
  const b = new OnnxBuilder();
  const W = (...dims: number[]) => b.floats(dims, fill(size(dims), r, 0.5));
  let v = b.one('Conv', ['input', W(4, 3, 3, 3), W(4)], { pads: [1, 1, 1, 1] });
  v = b.one('Reshape', [v, b.ints([1, 2, 2, 6, 6])]);
  v = b.one('Transpose', [v], { perm: [0, 2, 1, 3, 4] });
  v = b.one('Reshape', [v, b.ints([1, 4, 6, 6])]);
  v = b.one('Relu', [v]);
  v = b.one('Flatten', [v], { axis: 1 });
  v = b.one('Add', [b.one('MatMul', [v, W(144, 3)]), W(3)]);
  v = b.one('Squeeze', [b.one('Unsqueeze', [v, b.ints([2])]), b.ints([2])]);
  return { bytes: b.encode({ name: 'input', dims: [1, 3, 6, 6] }, v), h: 6, w: 6, classes: 3 };
}

const nchwOf = (x: Float32Array, n: number, h: number, w: number) => {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let z = 0; z < w; z++) for (let c = 0; c < 3; c++) out[((i * 3 + c) * h + y) * w + z] = x[((i * h + y) * w + z) * 3 + c];
  return out;
};

async function plainLogits(bytes: Uint8Array, x: Float32Array, n: number, h: number, w: number): Promise<Float32Array> {
  const s = await ort!.InferenceSession.create(bytes);
  const out: Float32Array[] = [];
  try {
    // One image a run: the shuffle net's file fixes the batch at 1.
    for (let i = 0; i < n; i++) {
      const xi = nchwOf(x.subarray(i * h * w * 3, (i + 1) * h * w * 3), 1, h, w);
      const r = await s.run({ [s.inputNames[0]]: new ort!.Tensor('float32', xi, [1, 3, h, w]) });
      out.push(r[s.outputNames[0]].data as Float32Array);
    }
  } finally {
    await s.release();
  }
  const all = new Float32Array(out.reduce((a, o) => a + o.length, 0));
  out.forEach((o, i) => all.set(o, i * o.length));
  return all;
}


/** log p(cls) from logits (a final softmax in the file is stripped by the compiler, so plain sessions give probabilities: take log). */
const logProb = (z: ArrayLike<number>, cls: number, probs: boolean) => {
  const v = Array.from(z);
  if (probs) return Math.log(v[cls]);
  const m = Math.max(...v);
  return v[cls] - m - Math.log(v.reduce((s, a) => s + Math.exp(a - m), 0));
};

const cases = [
  { name: 'conv net (opset 14)', make: () => convNet(3), probs: true },
  { name: 'shuffle net (batch fixed at 1)', make: () => shuffleNet(5), probs: false },
];

for (const c of cases) {
  t.test(`ONNX import: ${c.name}`, { skip: ort ? false : 'onnxruntime-node is not installed' }, async (t) => {
    await tf.setBackend('wasm');
    const { bytes, h, w, classes } = c.make();
    const before = tf.memory().numTensors;
    const net = compileOnnxModel(bytes, { file: 'tiny.onnx', inputSize: [h, w], layout: 'NCHW' });
    t.equal(net.endsInSoftmax, c.probs, 'a final softmax is stripped');
    const n = 2;
    const x = fill(n * h * w * 3, rng(11), 1.5);
    const ref = await plainLogits(bytes, x, n, h, w);
    const z = tf.tidy(() => net.forward(tf.tensor4d(x, [n, h, w, 3])).dataSync() as Float32Array);
    const refLogits = c.probs ? ref.map(Math.log) : ref;
    // Logits up to a per-row constant when the file ends in softmax: compare log-softmax.
    const lsm = (v: Float32Array) => Float32Array.from({ length: v.length }, (_, i) => logProb(v.subarray(Math.floor(i / classes) * classes, (Math.floor(i / classes) + 1) * classes), i % classes, false));
    const d = maxDiff(lsm(z), lsm(refLogits));
    t.ok(d <= 1e-4 * Math.max(1, maxAbs(refLogits)), `log-softmax equals onnxruntime's plain inference (max diff ${d.toExponential(2)})`);

    // Gradient of log p(cls) per image: tfjs program vs the exported graph vs finite differences of the plain file.
    const cls = [1, 2];
    const tfjsGrad = tf.tidy(() => {
      const onehot = tf.oneHot(tf.tensor1d(cls, 'int32'), classes);
      return tf.grad((img) => tf.sum(tf.mul(tf.logSoftmax(net.forward(img as tf.Tensor4D)), onehot)))(tf.tensor4d(x, [n, h, w, 3])).dataSync() as Float32Array;
    });
    const spec: ModelSpec = { id: 'tiny', source: { kind: 'folder', path: '/dev/null' }, format: 'onnx', inputSize: [h, w], inputRange: [0, 1], labels: Array.from({ length: classes }, (_, i) => `c${i}`), endsInSoftmax: c.probs, alignCorners: false };
    const onnx = await OnnxGradientNet.create(spec, net.graph(), 1);
    const { logits, dx } = await onnx.run(x, n, cls.map((k) => ({ cls: k, sign: 1 as const, logit: false })));
    await onnx.dispose();
    t.ok(maxDiff(logits, z) <= 1e-4 * Math.max(1, maxAbs(z)), 'exported logits equal the program\'s');
    const e = relErr(dx!, tfjsGrad);
    t.ok(e < 1e-4, `exported input gradient equals tfjs's (relative error ${e.toExponential(2)})`);
    // Central differences along a random direction, objective in float64 from the plain session.
    const dir = fill(x.length, rng(12));
    const norm = Math.hypot(...dir);
    const step = 1e-2;
    const objective = async (sgn: number) => {
      const xs = x.map((v, i) => v + (sgn * step * dir[i]) / norm);
      const out = await plainLogits(bytes, xs, n, h, w);
      return cls.reduce((s, k, i) => s + logProb(out.subarray(i * classes, (i + 1) * classes), k, c.probs), 0);
    };
    const fd = ((await objective(1)) - (await objective(-1))) / (2 * step);
    const analytic = tfjsGrad.reduce((s, g, i) => s + (g * dir[i]) / norm, 0);
    t.ok(Math.abs(fd - analytic) <= 2e-2 * Math.max(1e-3, Math.abs(fd)), `directional derivative ${analytic.toFixed(5)} matches central differences ${fd.toFixed(5)}`);
    net.dispose();
    t.equal(tf.memory().numTensors, before, 'no tensors leak');
  });
}

/**
 * A quantized model (QuantizeLinear, QLinearConv with per-channel int8 weights and an int32
 * bias, QLinearGlobalAveragePool, QLinearMatMul, QLinearAdd with a uint8 constant,
 * DequantizeLinear) and its float twin written from the same numbers by hand: the import is
 * the twin (dequantized weights, float activations, the [0, max] output range as a ReLU).
 */
function quantizedPair(seed: number): { q: Uint8Array; f: Uint8Array } {
  const r = rng(seed);
  const wq = Array.from({ length: 4 * 3 * 3 * 3 }, () => Math.round(r() * 100));
  const wScale = [0.004, 0.006, 0.005, 0.003];
  const xScale = 0.02;
  const bq = [120, -300, 45, 0];
  const mq = Array.from({ length: 4 * 3 }, () => Math.round((r() + 1) * 90)); // uint8
  const mScale = 0.01, mZp = 3;
  const cq = [100, 130, 90], cScale = 0.02, cZp = 110;
  const q = new OnnxBuilder();
  const u8 = (v: number) => q.typed([], [v], 'uint8');
  const f = (v: number) => q.floats([], [v]);
  let v = q.one('QuantizeLinear', ['input', f(xScale), u8(128)]);
  v = q.one('QLinearConv', [v, f(xScale), u8(128), q.typed([4, 3, 3, 3], wq, 'int8'), q.floats([4], wScale), q.typed([4], [0, 0, 0, 0], 'int8'), f(0.05), u8(0), q.typed([4], bq, 'int32')], { pads: [1, 1, 1, 1] });
  v = q.one('QLinearGlobalAveragePool', [v, f(0.05), u8(0), f(0.05), u8(0)], { channels_last: 0 }, 'com.microsoft');
  v = q.one('Flatten', [v], { axis: 1 });
  v = q.one('QLinearMatMul', [v, f(0.05), u8(0), q.typed([4, 3], mq, 'uint8'), f(mScale), u8(mZp), f(0.1), u8(100)]);
  v = q.one('QLinearAdd', [v, f(0.1), u8(100), q.typed([3], cq, 'uint8'), f(cScale), u8(cZp), f(0.1), u8(100)], undefined, 'com.microsoft');
  v = q.one('DequantizeLinear', [v, f(0.1), u8(100)]);
  // The float twin, dequantized here independently of the importer.
  const t2 = new OnnxBuilder();
  const w = wq.map((x, i) => x * wScale[Math.floor(i / 27)]);
  const bias = bq.map((x, c) => x * xScale * wScale[c]);
  let u = t2.one('Relu', [t2.one('Conv', ['input', t2.floats([4, 3, 3, 3], w), t2.floats([4], bias)], { pads: [1, 1, 1, 1] })]);
  u = t2.one('Flatten', [t2.one('GlobalAveragePool', [u])], { axis: 1 });
  u = t2.one('Add', [t2.one('MatMul', [u, t2.floats([4, 3], mq.map((x) => (x - mZp) * mScale))]), t2.floats([3], cq.map((x) => (x - cZp) * cScale))]);
  return { q: q.encode({ name: 'input', dims: [null, 3, 6, 6] }, v), f: t2.encode({ name: 'input', dims: [null, 3, 6, 6] }, u) };
}

t.test('ONNX import: a quantized model is its float twin', { skip: ort ? false : 'onnxruntime-node is not installed' }, async (t) => {
  await tf.setBackend('wasm');
  const { q, f } = quantizedPair(9);
  const net = compileOnnxModel(q, { file: 'q.onnx', inputSize: [6, 6], layout: 'NCHW' });
  t.equal(net.dequantized, true, 'reported as dequantized');
  const x = fill(2 * 6 * 6 * 3, rng(21), 2);
  const ours = tf.tidy(() => net.forward(tf.tensor4d(x, [2, 6, 6, 3])).dataSync() as Float32Array);
  const twin = await plainLogits(f, x, 2, 6, 6);
  const d = maxDiff(ours, twin);
  t.ok(d <= 1e-5 * Math.max(1, maxAbs(twin)), `logits equal the float twin's in onnxruntime (max diff ${d.toExponential(2)}, largest ${maxAbs(twin).toFixed(3)})`);
  net.dispose();
});

t.test('ONNX import: failures name the op, the node and the file', async (t) => {
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const b = new OnnxBuilder();
  const v = b.one('Conv', ['input', b.floats([2, 3, 1, 1], fill(6, rng(1)))]);
  const bad = b.encode({ name: 'input', dims: [null, 3, 4, 4] }, b.one('Erf', [v]));
  t.throws(() => compileOnnxModel(bad, { file: '/m/model.onnx', inputSize: [4, 4], layout: 'NCHW' }), /\/m\/model\.onnx: node node1_Erf \(Erf\): operator Erf is not supported/);
  t.throws(() => compileOnnxModel(bad, { file: '/m/model.onnx', inputSize: [8, 8], layout: 'NCHW' }), /input input has shape \[\?, 3, 4, 4\], but the description says NCHW \[N, 3, 8, 8\]/);
  t.throws(() => compileOnnxModel(Buffer.from('not a model at all'), { file: '/m/x.onnx', inputSize: [4, 4], layout: 'NCHW' }), /\/m\/x\.onnx is not an ONNX model/);
  t.equal(tf.memory().numTensors, before, 'failed loads free what they built');
});
