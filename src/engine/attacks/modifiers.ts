/**
 * Transferability modifiers usable with any iterative method.
 *
 * DI — Xie et al., "Improving Transferability of Adversarial Examples with Input Diversity",
 * CVPR 2019. https://arxiv.org/abs/1803.06978. With probability p (0.5) per step, each model
 * sees its input randomly resized to [1, 1.1) of its size and randomly zero-padded back to
 * 1.1x, differentiably (see NetClassifier.preprocess).
 *
 * TI — Dong et al., "Evading Defenses to Transferable Adversarial Examples by
 * Translation-Invariant Attacks", CVPR 2019. https://arxiv.org/abs/1904.02884. The gradient
 * is convolved with a Gaussian kernel (size 7 by default, 15 optional, nsig 3) before the step.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiverseInput } from '../../models/types';

export interface DiverseOptions {
  probability: number;
  maxScale: number;
}

export const DI_DEFAULTS: DiverseOptions = { probability: 0.5, maxScale: 1.1 };

/** One step's draw: always three numbers from `random`, so the sequence does not depend on the coin. */
export function drawDiverse(random: () => number, options: DiverseOptions = DI_DEFAULTS): DiverseInput | undefined {
  const coin = random();
  const scale = 1 + random() * (options.maxScale - 1);
  const offsetY = random();
  const offsetX = random();
  return coin < options.probability ? { scale, maxScale: options.maxScale, offsetY, offsetX } : undefined;
}

/** The TI kernel: a normalised 2-D Gaussian over [-nsig, nsig] sampled at `size` points (as the paper's code does). */
export function gaussianKernel(size: number, nsig = 3): Float32Array {
  const xs = Array.from({ length: size }, (_, i) => (size === 1 ? 0 : -nsig + (2 * nsig * i) / (size - 1)));
  const k1 = xs.map((x) => Math.exp(-0.5 * x * x));
  const out = new Float32Array(size * size);
  let total = 0;
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) total += out[i * size + j] = k1[i] * k1[j];
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

/** Smooths a gradient [N, H, W, 3] per channel with the TI kernel ('same' padding, zeros outside). */
export function translationInvariant(grad: tf.Tensor4D, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const k = tf.tensor2d(gaussianKernel(size), [size, size]);
    const kernel = tf.tile(k.reshape([size, size, 1, 1]), [1, 1, 3, 1]) as tf.Tensor4D;
    return tf.depthwiseConv2d(grad, kernel, 1, 'same');
  });
}
