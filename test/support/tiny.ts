/** Tiny, fully known classifiers for fast unit tests of the attack math. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { NetClassifier } from '../../src/models/classifier';
import { Engine } from '../../src/engine/engine';
import { seededRandom } from '../../src/engine/random';
import { loadBoxKernels } from '../../src/backend/box-kernels';
import { LocalRunner } from '../../src/engine/runner';
import type { ModelSpec } from '../../src/models/types';

export const TINY_LABELS = ['a', 'b', 'c', 'd'];

export async function useBackend(name = 'wasm'): Promise<void> {
  await tf.setBackend(name);
  await tf.ready();
  // The attack steps' box kernels, as initBackend loads them (tests that compare them with the ops say so).
  if (name === 'wasm') await loadBoxKernels();
}

/** Gaussian-ish numbers from the seeded PRNG (sum of uniforms), so tests are reproducible. */
export function seededNormal(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() + r() + r() + r() - 2;
  return out;
}

/**
 * A linear softmax classifier on an s x s input in [0, 1]: logits = flatten(x) W + b, with a
 * tanh feature in front so the gradient depends on x (finite-difference tests need curvature).
 */
export function tinyClassifier(id: string, seed: number, size = 8, classes = TINY_LABELS.length): NetClassifier {
  const d = size * size * 3;
  const w = tf.keep(tf.tensor2d(seededNormal(d * classes, seed), [d, classes]));
  const b = tf.keep(tf.tensor1d(seededNormal(classes, seed + 1)));
  const spec: ModelSpec = {
    id,
    source: { kind: 'folder', path: '/dev/null' },
    format: 'layers',
    inputSize: [size, size],
    inputRange: [0, 1],
    labels: TINY_LABELS.slice(0, classes),
    endsInSoftmax: true,
    alignCorners: false,
  };
  return new NetClassifier(spec, {
    forward: (x) =>
      tf.tidy(() => {
        const f = tf.tanh(tf.mul(tf.sub(x, 0.5), 3)).reshape([x.shape[0], d]);
        return tf.add(tf.matMul(f, w), b) as tf.Tensor2D;
      }),
    dispose: () => {
      w.dispose();
      b.dispose();
    },
  });
}

/** A deterministic mid-grey-ish test image. */
export function tinyImage(width: number, height: number, seed: number, alpha = false) {
  const r = seededRandom(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.floor(40 + r() * 176);
  return { width, height, rgb, alpha: alpha ? new Uint8Array(width * height).fill(200) : undefined };
}

/** An in-process engine on two tiny classifiers (m1, m2): the attack tests' ensemble. */
export function tinyEngine(): Engine {
  const runner = new LocalRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  runner.add(tinyClassifier('m2', 2));
  return new Engine(runner);
}
