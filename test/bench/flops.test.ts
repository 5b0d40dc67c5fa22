/**
 * The bench's FLOP count and host peak (src/models/net/flops.ts, bench/flops.ts): multiply-adds of a small compiled
 * network counted by hand (strided valid conv, depthwise with a multiplier, 1x1 conv, dense),
 * and the peak's FLOP/cycle per CPU family from /proc/cpuinfo-like text.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { compileLayersModel } from '../../src/models/net/compile';
import { hostPeak } from '../../bench/flops';
import { forwardMacs } from '../../src/models/net/flops';
import { useBackend } from '../support/tiny';

t.before(() => useBackend('wasm'));

t.test('forwardMacs counts conv, depthwise and dense multiply-adds from the compiled graph', async (t) => {
  const L = tf.layers;
  const input = tf.input({ shape: [9, 10, 3] });
  const ap = (l: tf.layers.Layer, x: tf.SymbolicTensor) => l.apply(x) as tf.SymbolicTensor;
  let x = ap(L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }), input); // 4x4x8
  x = ap(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2 }), x); // 4x4x16
  x = ap(L.conv2d({ filters: 5, kernelSize: 1 }), x); // 4x4x5
  x = ap(L.maxPooling2d({ poolSize: 2, strides: 2 }), x); // 2x2x5: no multiply-adds
  x = ap(L.flatten(), x); // 20
  const out = ap(L.dense({ units: 3 }), x);
  const net = compileLayersModel(tf.model({ inputs: input, outputs: out }));
  try {
    const expected =
      4 * 4 * 8 * (3 * 3 * 3) + // strided conv: each of 4x4x8 outputs reads 3x3x3 inputs
      4 * 4 * 16 * (3 * 3) + // depthwise x2: each of 4x4x16 outputs reads a 3x3 window of one channel
      4 * 4 * 5 * 16 + // 1x1 conv
      20 * 3; // dense
    const before = tf.memory().numTensors;
    t.equal(forwardMacs(net.graph(), [9, 10]), expected);
    t.equal(tf.memory().numTensors, before, 'the shape probe frees its tensors');
  } finally {
    net.dispose();
  }
});

const cpuinfo = (vendor: string, family: number, flags: string, mhz?: number) =>
  [`vendor_id\t: ${vendor}`, `cpu family\t: ${family}`, 'model name\t: Test CPU', ...(mhz ? [`cpu MHz\t\t: ${mhz}`] : []), `flags\t\t: fpu ${flags}`].join('\n');

t.test('hostPeak: cores x GHz x FLOP/cycle per ISA and CPU family, and the override', async (t) => {
  const zen4 = hostPeak(undefined, cpuinfo('AuthenticAMD', 25, 'avx2 fma avx512f', 2000), 2);
  t.match(zen4, { isa: 'avx512f', flopPerCycle: 32, gflops: 128, mhz: 2000, overridden: false });
  t.equal(hostPeak(undefined, cpuinfo('AuthenticAMD', 26, 'avx2 fma avx512f', 2000), 2).flopPerCycle, 64);
  t.equal(hostPeak(undefined, cpuinfo('GenuineIntel', 6, 'avx2 fma avx512f', 3000), 4).gflops, 768);
  t.match(hostPeak(undefined, cpuinfo('GenuineIntel', 6, 'avx2 fma', 2500), 2), { isa: 'avx2+fma', flopPerCycle: 32, gflops: 160 });
  const noClock = hostPeak(undefined, cpuinfo('AuthenticAMD', 25, 'avx2 fma'), 2);
  t.equal(noClock.mhz, null);
  t.equal(noClock.gflops, null, 'no "cpu MHz": the peak is unknown');
  t.match(hostPeak(190, cpuinfo('AuthenticAMD', 25, 'avx2 fma'), 2), { gflops: 190, overridden: true });
});
