/**
 * conv-grad.ts against tfjs' own reference kernels on the cpu backend: input gradients of
 * conv2d / depthwise conv2d (our forward-kernel formulation, run on wasm) and the filter
 * gradients that our registered Conv2D / DepthwiseConv2dNative gradients compute.
 * References are computed BEFORE registerFastGradients() replaces tfjs' gradients.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  ConvGeometry, ConvPad, conv2dInputGrad, depthwiseInputGrad, flipConvFilter, flipDepthwiseFilter, phaseFilters, registerFastGradients, stridedInputGrad, usePhases,
} from '../../src/models/net/conv-grad';

import { fill, rng, size } from '../support/random';

interface Case {
  name: string;
  depthwise: boolean;
  x: number[]; // NHWC
  k: [number, number];
  out: number; // co for conv, multiplier for depthwise
  strides: [number, number];
  pad: ConvPad;
  dilations?: [number, number];
}

const cases: Case[] = [];
const pads: ConvPad[] = ['same', 'valid', [[0, 0], [1, 0], [0, 2], [0, 0]]];
let i = 0;
for (const depthwise of [false, true]) {
  for (const pad of pads) {
    for (const s of [1, 2, 3] as const) {
      for (const k of [[1, 1], [3, 3], [2, 3], [5, 5]] as [number, number][]) {
        const r = rng(1000 + i++);
        const h = 5 + Math.floor((r() + 1) * 4), w = 4 + Math.floor((r() + 1) * 4);
        if (pad === 'valid' && (h < k[0] || w < k[1])) continue;
        const out = depthwise ? (i % 2 ? 1 : 2) : 1 + Math.floor((r() + 1) * 3);
        cases.push({ name: `${depthwise ? 'dw' : 'conv'} pad=${JSON.stringify(pad)} s=${s} k=${k} x=${h}x${w} out=${out}`, depthwise, x: [2, h, w, 3], k, out, strides: [s, s], pad });
      }
    }
  }
}
// (tfjs' reference gradients reject dilations > 1: those are checked by finite differences in ops.test.ts)

interface Data { x: Float32Array; w: Float32Array; r: Float32Array; wShape: number[]; yShape: number[]; dx: Float32Array; dw: Float32Array }

function forward(c: Case, x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  const d = c.dilations ?? [1, 1];
  return c.depthwise ? tf.depthwiseConv2d(x, w, c.strides, c.pad as 'same', 'NHWC', d) : tf.conv2d(x, w, c.strides, c.pad as 'same', 'NHWC', d);
}

/** Loss = sum(conv(x, w) * r); reference gradients from tfjs' original gradients on cpu. */
function reference(c: Case, seed: number): Data {
  const r = rng(seed);
  const wShape = [c.k[0], c.k[1], c.x[3], c.out];
  const x = fill(size(c.x), r), w = fill(size(wShape), r);
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x as [number, number, number, number]);
    const wt = tf.tensor4d(w, wShape as [number, number, number, number]);
    const yShape = forward(c, xt, wt).shape;
    const rt = tf.tensor(fill(size(yShape), r), yShape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(forward(c, a as tf.Tensor4D, b as tf.Tensor4D), rt)))([xt, wt]);
    return { x, w, r: rt.dataSync() as Float32Array, wShape, yShape, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-6, err = 0;
  for (let k = 0; k < b.length; k++) scale = Math.max(scale, Math.abs(b[k]));
  for (let k = 0; k < b.length; k++) err = Math.max(err, Math.abs(a[k] - b[k]));
  return err / scale;
}

t.test('conv input/filter gradients match tfjs reference kernels on cpu', async (t) => {
  await tf.setBackend('cpu');
  const refs = cases.map((c, k) => reference(c, 77 + k));
  await tf.setBackend('wasm');
  registerFastGradients();
  registerFastGradients(); // idempotent
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k], ref = refs[k];
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor4d(ref.x, c.x as [number, number, number, number]);
      const w = tf.tensor4d(ref.w, ref.wShape as [number, number, number, number]);
      const r = tf.tensor4d(ref.r, ref.yShape as [number, number, number, number]);
      const g: ConvGeometry = { strides: c.strides, pad: c.pad, dilations: c.dilations ?? [1, 1] };
      // Direct call: dy = r.
      const dx = c.depthwise
        ? depthwiseInputGrad(r, c.x, flipDepthwiseFilter(w), ref.wShape, g)
        : conv2dInputGrad(r, c.x, flipConvFilter(w), ref.wShape, g);
      t.same(dx.shape as number[], c.x, `${c.name}: dx shape`);
      const e1 = maxRelErr(dx.dataSync(), ref.dx);
      t.ok(e1 < 1e-5, `${c.name}: direct dx rel err ${e1.toExponential(2)}`);
      if (usePhases(g)) {
        // Polyphase form (what compiled strided convs use): no dilated dy.
        const dxp = stridedInputGrad(r, c.x, phaseFilters(w, c.strides, c.depthwise), ref.wShape, g, c.depthwise);
        const ep = maxRelErr(dxp.dataSync(), ref.dx);
        t.ok(ep < 1e-5, `${c.name}: polyphase dx rel err ${ep.toExponential(2)}`);
      }
      // Through the registered kernel gradients (tf.grads on wasm: dx and dW).
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(forward(c, a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
      const e2 = maxRelErr(gx.dataSync(), ref.dx), e3 = maxRelErr(gw.dataSync(), ref.dw);
      t.ok(e2 < 1e-5, `${c.name}: registered dx rel err ${e2.toExponential(2)}`);
      t.ok(e3 < 1e-5, `${c.name}: registered dW rel err ${e3.toExponential(2)}`);
    });
    t.equal(tf.memory().numTensors, before, `${c.name}: no leaked tensors`);
  }
});
