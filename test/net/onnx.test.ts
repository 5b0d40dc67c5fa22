/**
 * Export of compiled networks to onnxruntime (src/models/onnx): the exported graph's logits
 * must equal the tfjs program's, its input gradient must match the tfjs gradient and finite
 * differences of its own forward pass, for every objective kind (towards/away, log-softmax or
 * logit), on the tiny networks that hold every layer type and on the three bundled models.
 */
import t, { Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { CompiledNet, compileGraphModel, compileLayersModel } from '../../src/models/net/compile';
import { WIDE_MIN_MACS } from '../../src/engine/load-passes';
import { exportGradientGraph } from '../../src/models/onnx/export';
import { RELU_MASK_SCALE } from '../../src/models/net/ops-table/layers';
import { forwardOnly, initializerBytes } from '../../src/models/onnx/forward-only';
import { encodeModel, gpuCpuNodes, type OnnxModel } from '../../src/models/onnx/proto';
import { OnnxGradientNet, onnxRuntime, type OnnxObjective } from '../../src/models/onnx/net';
import { buildNet } from '../../src/models/registry';
import { BUNDLED_MODELS } from '../../src/models/table';
import type { ModelSpec } from '../../src/models/types';
import { fill, rng, size } from '../support/random';
import { graphArtifacts, randomizeWeights, tinyLayersModel } from '../support/tiny-nets';
import { relErr } from '../support/compare';

const quiet = { info: () => {}, warn: () => {} };

function specOf(id: string, inputSize: [number, number], classes: number): ModelSpec {
  return {
    id,
    source: { kind: 'folder', path: '/dev/null' },
    format: 'layers',
    inputSize,
    inputRange: [0, 1],
    labels: Array.from({ length: classes }, (_, i) => `c${i}`),
    endsInSoftmax: true,
    alignCorners: false,
  };
}

/** The objective's value per image, in float64, from logits: sign * (log-softmax or logit) of cls. */
function objective(logits: Float32Array, k: number, objs: OnnxObjective[]): number {
  let total = 0;
  objs.forEach((o, i) => {
    const z = Array.from(logits.subarray(i * k, (i + 1) * k));
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    total += o.sign * (o.logit ? z[o.cls] : z[o.cls] - lse);
  });
  return total;
}

/** tfjs's input gradient of the same objective through the compiled program. */
function tfjsGradient(net: CompiledNet, x: Float32Array, shape: [number, number, number, number], objs: OnnxObjective[], k: number): Float32Array {
  return tf.tidy(() => {
    const onehot = tf.oneHot(tf.tensor1d(objs.map((o) => o.cls), 'int32'), k);
    const sign = tf.tensor1d(objs.map((o) => o.sign));
    const useLogit = tf.tensor1d(objs.map((o) => (o.logit ? 1 : 0)));
    const f = (z: tf.Tensor) => {
      const logits = net.forward(z as tf.Tensor4D);
      const score = tf.add(tf.mul(tf.sum(tf.mul(logits, onehot), 1), useLogit), tf.mul(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), 1), tf.sub(1, useLogit)));
      return tf.sum(tf.mul(score, sign));
    };
    return tf.grad(f)(tf.tensor4d(x, shape)).dataSync() as Float32Array;
  });
}


const MIXED: OnnxObjective[] = [
  { cls: 1, sign: 1, logit: false },
  { cls: 2, sign: -1, logit: false },
  { cls: 0, sign: 1, logit: true },
];

/** Export, then: logits equal tfjs's; dx equals tfjs's gradient and the ORT forward's own finite differences. */
async function checkExport(t: Test, name: string, net: CompiledNet, inputSize: [number, number], classes: number, seed: number): Promise<void> {
  const [h, w] = inputSize;
  const onnx = await OnnxGradientNet.create(specOf(name, inputSize, classes), net.graph(), 1);
  t.teardown(() => onnx.dispose());
  const n = MIXED.length;
  const shape: [number, number, number, number] = [n, h, w, 3];
  const x = fill(size(shape), rng(seed), 0.5).map((v) => v + 0.5);
  const { logits, dx } = await onnx.run(x, n, MIXED);
  const ref = tf.tidy(() => net.forward(tf.tensor4d(x, shape)).dataSync() as Float32Array);
  let worstLogit = 0;
  for (let i = 0; i < ref.length; i++) worstLogit = Math.max(worstLogit, Math.abs(logits[i] - ref[i]));
  t.ok(worstLogit < 1e-4, `${name}: onnx logits equal tfjs's (max |diff| ${worstLogit.toExponential(2)})`);
  // A run without objectives (logits fetched alone) gives the same logits, and so does a session on the forward half alone.
  const fwd = await onnx.run(x, n);
  t.same(Array.from(fwd.logits), Array.from(logits), `${name}: a forward-only run gives the same logits`);
  await checkForwardOnly(t, name, specOf(name, inputSize, classes), exportedGraph(net, inputSize), x, n, logits);

  const e = relErr(dx!, tfjsGradient(net, x, shape, MIXED, classes));
  t.ok(e < 1e-4, `${name}: onnx input gradient equals tfjs's (relative L2 error ${e.toExponential(2)})`);

  // Finite differences of the exported forward itself, on the largest-gradient elements and a
  // spread of others (central, step 1e-2; piecewise-linear nets: skip elements on a kink).
  const f = async (v: Float32Array) => objective((await onnx.run(v, n)).logits, classes, MIXED);
  const order = Array.from(dx!.keys()).sort((a, b) => Math.abs(dx![b]) - Math.abs(dx![a]));
  const picks = [...order.slice(0, 12), ...order.filter((_, i) => i % Math.floor(order.length / 12) === 0).slice(0, 12)];
  const step = 1e-2;
  let worst = 0, used = 0;
  for (const i of picks) {
    const at = async (k: number) => {
      const v = x.slice();
      v[i] += (k * step) / 2;
      return f(v);
    };
    const vals = [await at(-2), await at(-1), await at(0), await at(1), await at(2)];
    const slopes = [0, 1, 2, 3].map((k) => (vals[k + 1] - vals[k]) / (step / 2));
    const central = (vals[4] - vals[0]) / (2 * step);
    if (Math.max(...slopes) - Math.min(...slopes) > 5e-3 * Math.max(1, Math.abs(central))) continue;
    used++;
    worst = Math.max(worst, Math.abs(dx![i] - central) / Math.max(1, Math.abs(central)));
  }
  t.ok(used >= picks.length * 0.7, `${name}: ${used}/${picks.length} elements off kinks`);
  t.ok(worst < 5e-3, `${name}: onnx gradient vs finite differences: max error ${worst.toExponential(2)} over ${used} elements`);
}

/** A net's exported gradient graph, and its encoding. */
interface ExportedGraph {
  model: OnnxModel;
  classes: number;
  bytes: Uint8Array;
}

/** The net's gradient graph at inputSize, exported and encoded. */
function exportedGraph(net: CompiledNet, inputSize: [number, number]): ExportedGraph {
  const { model, classes } = exportGradientGraph(net.graph(), { inputSize });
  return { model, classes, bytes: encodeModel(model) };
}

/**
 * The forward half of a gradient graph (forwardOnly): x in, logits out, none of the
 * gradient's nodes, and in a session of its own the logits of the whole graph, bit for bit.
 */
async function checkForwardOnly(t: Test, name: string, spec: ModelSpec, graph: ExportedGraph, x: Float32Array, n: number, logits: Float32Array): Promise<void> {
  const { model, classes, bytes } = graph;
  const half = forwardOnly(model);
  t.same(half.inputs.map((v) => v.name), ['x'], `${name}: the forward half reads x alone`);
  t.same(half.outputs.map((v) => v.name), ['logits'], `${name}: and writes the logits alone`);
  const produced = new Set(half.nodes.flatMap((node) => node.outputs));
  t.notOk(produced.has('dx') || half.nodes.some((node) => node.op === 'ConvTranspose' || node.op === 'Softmax'), `${name}: none of the gradient's nodes (${half.nodes.length} of ${model.nodes.length})`);
  t.ok(initializerBytes(half) < initializerBytes(model) || !model.nodes.some((node) => node.op === 'Conv'), `${name}: fewer weights than the gradient graph`);
  const forward = { bytes: encodeModel(half), cpuNodes: gpuCpuNodes(half) };
  const onnx = await OnnxGradientNet.open(spec, { bytes, classes, forward }, 1);
  t.teardown(() => onnx.dispose());
  t.ok(onnx.hasForwardSession, `${name}: the net opened a forward session`);
  const r = await onnx.run(x, n);
  t.equal(r.dx, undefined);
  t.ok(Buffer.from(r.logits.buffer, r.logits.byteOffset, r.logits.byteLength).equals(Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength)), `${name}: the forward session's logits are the gradient graph's, bit for bit`);
}

/** `model` with seeded random weights, compiled; the compiled net is disposed when the test ends. */
function compiledWithRandomWeights(t: Test, model: tf.LayersModel, seed: number): CompiledNet {
  randomizeWeights(model, seed);
  const net = compileLayersModel(model);
  t.teardown(() => net.dispose());
  return net;
}

/** The op types of the net's exported gradient graph, in order. */
const exportedOps = (net: CompiledNet, inputSize: [number, number]) => exportGradientGraph(net.graph(), { inputSize }).model.nodes.map((n) => n.op);

t.before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

t.test('onnxruntime-node is installed (an optional dependency, but the default runtime where it loads)', async (t) => {
  t.ok(onnxRuntime(), 'require("onnxruntime-node") works');
});

t.test('tiny LayersModel (every layer type) exports: same logits, same gradient, finite differences', async (t) => {
  const net = compiledWithRandomWeights(t, tinyLayersModel(false), 31);
  await checkExport(t, 'tiny layers', net, [9, 10], 3, 32);
});

t.test('tiny GraphModel (every supported op) exports: same logits, same gradient, finite differences', async (t) => {
  const artifacts = graphArtifacts();
  const net = compileGraphModel(await tf.loadGraphModel(tf.io.fromMemory(artifacts)), artifacts);
  t.teardown(() => net.dispose());
  await checkExport(t, 'tiny graph', net, [9, 8], 4, 33);
});

t.test('Keras MobileNet-style head: pooled [N, C] reshaped to [N, 1, 1, C], a 1x1 conv, reshaped back', async (t) => {
  const L = tf.layers;
  const model = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [8, 7, 3], filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
      L.globalAveragePooling2d({}),
      L.reshape({ targetShape: [1, 1, 6] }),
      L.conv2d({ filters: 4, kernelSize: 1 }),
      L.reshape({ targetShape: [4] }),
      L.activation({ activation: 'softmax' }),
    ],
  });
  const net = compiledWithRandomWeights(t, model, 34);
  await checkExport(t, 'keras head', net, [8, 7], 4, 35);
});

t.test('stride-1 input gradients are Convs with the flipped kernel: dilated, asymmetric same, valid, depthwise x2, average pool', async (t) => {
  const L = tf.layers;
  const model = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [11, 10, 3], filters: 5, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu6' as 'relu' }),
      L.depthwiseConv2d({ kernelSize: 3, padding: 'valid', depthMultiplier: 2, activation: 'relu6' as 'relu' }),
      L.conv2d({ filters: 4, kernelSize: 2, padding: 'same', activation: 'relu' }),
      L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid' }),
      L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }),
      L.flatten(),
      L.dense({ units: 4, activation: 'softmax' }),
    ],
  });
  const net = compiledWithRandomWeights(t, model, 36);
  const ops = exportedOps(net, [11, 10]);
  // Only the strided conv's gradient needs a ConvTranspose; the four stride-1 layers' are Convs.
  t.equal(ops.filter((op) => op === 'ConvTranspose').length, 1, 'one ConvTranspose (the stride-2 conv)');
  t.equal(ops.filter((op) => op === 'Conv').length, 4 + 4, 'four forward Convs and four backward ones');
  t.ok(ops.includes('HardSigmoid'), 'relu6 masks as HardSigmoid');
  await checkExport(t, 'stride-1 gradients', net, [11, 10], 4, 37);
});

t.test('no shape computed at run time (max pool, global mean): onnxruntime can prove the backward shapes equal', async (t) => {
  // onnxruntime keeps an elementwise op in its blocked NCHWc layout only where shape inference
  // shows its operands' shapes equal; one Shape-derived shape hid every shape downstream of it.
  const L = tf.layers;
  const model = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [12, 11, 3], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' }),
      L.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      L.globalAveragePooling2d({}),
      L.dense({ units: 4, activation: 'softmax' }),
    ],
  });
  const net = compiledWithRandomWeights(t, model, 38);
  const ops = exportedOps(net, [12, 11]);
  t.ok(ops.includes('MaxPool') && ops.includes('ReduceMean'), 'the net has a max pool and a global mean');
  t.same(ops.filter((op) => op === 'Shape' || op === 'ConstantOfShape'), [], 'no Shape or ConstantOfShape node');
  t.notOk(ops.includes('Where') || ops.includes('Greater'), 'relu masks without comparisons');
  await checkExport(t, 'static shapes', net, [12, 11], 4, 39);
});

t.test("relu's mask (HardSigmoid with the exporter's alpha) is exactly 1 for every positive normal float and 0 at 0", async (t) => {
  const values = [0, 2 ** -126, 1e-30, 2 ** -100, 1, 6, 3e38];
  const one = {
    opset: 13,
    nodes: [{ op: 'HardSigmoid', inputs: ['x'], outputs: ['y'], attrs: { alpha: { float: RELU_MASK_SCALE }, beta: { float: 0 } } }],
    initializers: [],
    inputs: [{ name: 'x', dims: [values.length] }],
    outputs: [{ name: 'y', dims: [values.length] }],
  };
  const ort = onnxRuntime()!;
  const session = await ort.InferenceSession.create(encodeModel(one));
  t.teardown(() => session.release());
  const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from(values), [values.length]) });
  t.same(Array.from(y.data as Float32Array), values.map((v) => (v > 0 ? 1 : 0)));
});

t.test('export and a session leave no tensors behind', async (t) => {
  const net = compileLayersModel(tinyLayersModel(false));
  t.teardown(() => net.dispose());
  const before = tf.memory().numTensors;
  const onnx = await OnnxGradientNet.create(specOf('leak', [9, 10], 3), net.graph(), 1);
  await onnx.run(new Float32Array(9 * 10 * 3), 1, [{ cls: 0, sign: 1, logit: false }]);
  await onnx.dispose();
  t.equal(tf.memory().numTensors, before);
});

// Each GPU provider: the same pass as on the CPU where it opens, else an error that names what
// is missing. CI has no GPU; .ci/run installs Mesa's software Vulkan (lavapipe), so WebGPU runs
// there for real, and CUDA checks its error only.
const GPU_PROVIDERS = [
  { provider: 'cuda' as const, name: 'CUDA', fix: /--onnxruntime-node-install=cuda12/ },
  { provider: 'webgpu' as const, name: 'WebGPU', fix: /a Vulkan driver for the GPU/ },
];
/** Whether onnxruntime alone opens a one-node session on the provider: the host has it, whatever advserve does. */
async function providerOpens(provider: 'cuda' | 'webgpu'): Promise<boolean> {
  const one = { opset: 13, nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], initializers: [], inputs: [{ name: 'x', dims: [2] }], outputs: [{ name: 'y', dims: [2] }] };
  try {
    await (await onnxRuntime()!.InferenceSession.create(encodeModel(one), { executionProviders: [provider], logSeverityLevel: 4 })).release();
    return true;
  } catch {
    return false;
  }
}

for (const { provider, name, fix } of GPU_PROVIDERS) {
  t.test(`the ${name} provider: the same pass as on the CPU where it opens, else an error that says what is missing`, async (t) => {
    // The tiny net has a max pool: its gradient's MaxPool-with-indices must stay on the CPU under WebGPU.
    const net = compileLayersModel(tinyLayersModel(false));
    t.teardown(() => net.dispose());
    const spec = specOf(provider, [9, 10], 3);
    const x = new Float32Array(9 * 10 * 3).map((_, i) => Math.sin(i));
    const objs: OnnxObjective[] = [{ cls: 1, sign: 1, logit: false }];
    const cpu = await OnnxGradientNet.create(spec, net.graph(), 1, 'cpu');
    const want = await cpu.run(x, 1, objs);
    await cpu.dispose();
    if (!(await providerOpens(provider))) {
      const err = await OnnxGradientNet.create(spec, net.graph(), 1, provider).then(
        (gpu) => gpu.dispose().then(() => new Error('opened')),
        (e: Error) => e,
      );
      t.match(err.message, new RegExp(`ADVSERVE_ONNX_PROVIDER=${provider}: onnxruntime could not open a ${name} session .*`));
      t.match(err.message, fix);
      t.comment(`${name} unavailable on this host: checked the error only`);
      return;
    }
    // The host has the provider: advserve's session must open and agree.
    const gpu = await OnnxGradientNet.create(spec, net.graph(), 1, provider);
    const got = await gpu.run(x, 1, objs);
    await gpu.dispose();
    t.ok(relErr(got.logits, want.logits) < 1e-4, `${name} logits agree with the CPU pass (${relErr(got.logits, want.logits).toExponential(1)})`);
    t.ok(relErr(got.dx!, want.dx!) < 1e-3, `${name} input gradient agrees with the CPU pass (${relErr(got.dx!, want.dx!).toExponential(1)})`);
  });
}

t.test('a network with a step the exporter does not know is refused by name', async (t) => {
  const net = compileLayersModel(tinyLayersModel(true)); // ELU layer: a tfjs fallback
  t.teardown(() => net.dispose());
  await t.rejects(OnnxGradientNet.create(specOf('fallback', [9, 10], 3), net.graph(), 1), /step \S+ \(ELU\) runs in tfjs only and cannot be exported/);
});

t.test('the bundled models export with the same logits and input gradients as tfjs, the same bytes on any thread count', async (t) => {
  for (const spec of BUNDLED_MODELS) {
    const built = await buildNet(spec, quiet);
    const net = built.net as CompiledNet;
    const exported = exportGradientGraph(net.graph(), { inputSize: spec.inputSize });
    // Only InceptionV3 is large enough for the wide sessions (load-passes.ts sessionThreads).
    t.equal(exported.forwardMacs >= WIDE_MIN_MACS, spec.id === 'inception_v3', `${spec.id}: ${(exported.forwardMacs / 1e9).toFixed(2)}e9 forward multiply-adds`);
    const encoded = { bytes: encodeModel(exported.model), classes: exported.classes };
    const onnx = await OnnxGradientNet.open(spec, encoded, 2);
    const [h, w] = spec.inputSize;
    const n = 2;
    const objs = MIXED.slice(0, n);
    const [lo, hi] = spec.inputRange!;
    const x = fill(n * h * w * 3, rng(40), 0.5).map((v) => lo + (v + 0.5) * (hi - lo));
    const { logits, dx } = await onnx.run(x, n, objs);
    const ref = tf.tidy(() => net.forward(tf.tensor4d(x, [n, h, w, 3])).dataSync() as Float32Array);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(logits[i] - ref[i]));
    t.ok(worst < 1e-4, `${spec.id}: logits equal tfjs's (max |diff| ${worst.toExponential(2)})`);
    // Deep ReLU nets: a unit within float rounding of 0 may switch on one side only, so the
    // gradients agree to ~1e-3, not to rounding (measured 7e-7 to 4e-3 on random inputs).
    const e = relErr(dx!, tfjsGradient(net, x, [n, h, w, 3], objs, spec.labels.length));
    t.ok(e < 2e-2, `${spec.id}: input gradient equals tfjs's (relative L2 error ${e.toExponential(2)})`);
    await checkForwardOnly(t, spec.id, spec, { model: exported.model, ...encoded }, x, n, logits);
    // The service's sessions differ in threads and spinning (sessionThreads); results must not.
    for (const [threads, spin] of [[1, true], [2, false]] as const) {
      const other = await OnnxGradientNet.open(spec, encoded, threads, 'cpu', spin);
      const r = await other.run(x, n, objs);
      await other.dispose();
      const same = Buffer.from(r.logits.buffer).equals(Buffer.from(logits.buffer)) && Buffer.from(r.dx!.buffer).equals(Buffer.from(dx!.buffer));
      t.ok(same, `${spec.id}: the same bytes on ${threads} thread(s)${spin ? '' : ' that do not spin'} as on 2 that spin`);
    }
    await onnx.dispose();
    net.dispose();
  }
});
