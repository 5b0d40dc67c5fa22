/** Conversions between 8-bit images and float tensors on the 0..255 scale, and the final rounding. */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/types';
import { clipToBox, consume } from './attacks/box';

export function imageToTensor(img: RgbImage): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(Float32Array.from(img.rgb), [1, img.height, img.width, 3]));
}

/**
 * The eps-box around a clean image on the 0..255 scale: max(clean - eps, 0) and
 * min(clean + eps, 255). Written with clipByValue, which is exact (clean - eps never exceeds 255,
 * clean + eps is never below 0) and on wasm a unary kernel: tf.maximum / tf.minimum with a scalar
 * index both operands per element, about 3x slower on a 512x384 image (see ../attacks/box.ts).
 */
export function epsBox(clean: tf.Tensor4D, eps: number): { lower: tf.Tensor4D; upper: tf.Tensor4D } {
  const below = tf.sub(clean, eps);
  const lower = consume(() => tf.clipByValue(below, 0, 255), below) as tf.Tensor4D;
  const above = tf.add(clean, eps);
  const upper = consume(() => tf.clipByValue(above, 0, 255), above) as tf.Tensor4D;
  return { lower, upper };
}

/**
 * Rounds an attacked image to 8 bits so that every value stays within eps of the clean one
 * and in [0, 255] *after* rounding: rounding x = clean + eps with a fractional eps would
 * otherwise step outside the budget. Clean values are integers, so the integer box is
 * [clean - floor(eps), clean + floor(eps)].
 */
export function roundIntoBox(x: tf.Tensor4D, clean: tf.Tensor4D, eps: number): tf.Tensor4D {
  return tf.tidy(() => {
    // Full-size intermediates are freed as soon as they are used (see consume).
    const { lower, upper } = epsBox(clean, Math.floor(eps));
    const rounded = tf.round(x);
    return consume(() => clipToBox(rounded, lower, upper) as tf.Tensor4D, rounded, lower, upper);
  });
}

export async function tensorToImage(x: tf.Tensor4D, like: RgbImage): Promise<RgbImage> {
  const values = await x.data();
  return { width: like.width, height: like.height, rgb: Uint8Array.from(values), alpha: like.alpha };
}

/** L-infinity and L2 distances on the 0..255 scale between two 8-bit images. */
export function distances(a: Uint8Array, b: Uint8Array): { linf: number; l2: number } {
  let linf = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    const ad = d < 0 ? -d : d;
    if (ad > linf) linf = ad;
    sq += d * d;
  }
  return { linf, l2: Math.sqrt(sq) };
}
