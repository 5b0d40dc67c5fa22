/** Conversions between 8-bit images and float tensors on the 0..255 scale, and the final rounding. */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/types';
import { clipToBox, consume } from './attacks/box';

export function imageToTensor(img: RgbImage): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(Float32Array.from(img.rgb), [1, img.height, img.width, 3]));
}

/**
 * Rounds an attacked image to 8 bits so that every value stays within eps of the clean one
 * and in [0, 255] *after* rounding: rounding x = clean + eps with a fractional eps would
 * otherwise step outside the budget. Clean values are integers, so the integer box is
 * [clean - floor(eps), clean + floor(eps)].
 */
export function roundIntoBox(x: tf.Tensor4D, clean: tf.Tensor4D, eps: number): tf.Tensor4D {
  return tf.tidy(() => {
    const e = Math.floor(eps);
    // Full-size intermediates are freed as soon as they are used (see consume).
    const below = tf.sub(clean, e);
    const lo = consume(() => tf.maximum(below, 0), below);
    const above = tf.add(clean, e);
    const hi = consume(() => tf.minimum(above, 255), above);
    const rounded = tf.round(x);
    return consume(() => clipToBox(rounded, lo, hi) as tf.Tensor4D, rounded, lo, hi);
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
