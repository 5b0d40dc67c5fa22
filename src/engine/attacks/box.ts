/**
 * The eps-box arithmetic every step runs on full-size images, in ops that are fast on wasm.
 *
 * Why not tf.minimum / tf.maximum / tf.greaterEqual / tf.logicalAnd: on the wasm backend those
 * binary kernels index both inputs with a modulo per element, while Add, Sub and Mul run
 * through XNNPACK and Step is a plain unary loop. On a 512x384 image the seed's step (two
 * clips and a mask per model, three models) took ~93 ms per iteration with the former, almost
 * 2 s of a 20-iteration attack on the main thread while the workers waited.
 *
 * Both helpers are exact, not approximations: step(a - b) is 1 exactly when a > b (IEEE
 * subtraction is zero only for equal operands, and keeps the sign), the masks are disjoint
 * 0/1 values, and each output element is one input times 1 plus others times 0.
 */
import * as tf from '@tensorflow/tfjs';
import { boxKernels } from '../../backend/box-kernels';

interface BoxMasks {
  below: tf.Tensor;
  above: tf.Tensor;
  inside: tf.Tensor;
}

/**
 * Applies `op` and frees its full-size inputs at once. On large images every intermediate is a
 * float copy of the whole image, and the wasm heap holds only so many (a tidy alone frees them
 * at its end, all together): freeing each as soon as it is used keeps a handful alive instead of
 * a dozen. The arithmetic, and so every output bit, is the same.
 */
export function consume<T extends tf.Tensor>(op: () => T, ...inputs: tf.Tensor[]): T {
  const out = op();
  for (const t of inputs) t.dispose();
  return out;
}

/** below = [x < lower], above = [x > upper], inside = the rest, as float 0/1; needs lower <= upper. */
function masks(x: tf.Tensor, lower: tf.Tensor, upper: tf.Tensor): BoxMasks {
  const lowerGap = tf.sub(lower, x);
  const below = consume(() => tf.step(lowerGap), lowerGap);
  const upperGap = tf.sub(x, upper);
  const above = consume(() => tf.step(upperGap), upperGap);
  const notBelow = tf.sub(1, below);
  return { below, above, inside: consume(() => tf.sub(notBelow, above), notBelow) };
}

/** 1 where lower <= x <= upper, else 0 (float32); the same values as logicalAnd(x >= lower, x <= upper). */
export function insideBox<T extends tf.Tensor>(x: T, lower: T, upper: T): T {
  return tf.tidy(() => {
    const { below, above, inside } = masks(x, lower, upper);
    tf.dispose([below, above]);
    return inside as T;
  });
}

/** min(max(x, lower), upper), bit for bit, for lower <= upper everywhere. */
export function clipToBox<T extends tf.Tensor>(x: T, lower: T, upper: T): T {
  return tf.tidy(() => {
    const { below, above, inside } = masks(x, lower, upper);
    const kept = consume(() => tf.mul(x, inside), inside);
    const raised = consume(() => tf.mul(lower, below), below);
    const lowered = consume(() => tf.mul(upper, above), above);
    return consume(() => tf.addN([kept, raised, lowered]) as T, kept, raised, lowered);
  });
}

/** clipToBox(x + d), bit for bit: in one pass where the box kernels run (../../backend/box-kernels). */
export function clipSumToBox<T extends tf.Tensor>(x: T, d: tf.Tensor, lower: T, upper: T): T {
  const kernels = boxKernels(lower, upper, x, d);
  if (kernels) return kernels.addClip(x, d);
  const moved = tf.add(x, d) as T;
  return consume(() => clipToBox(moved, lower, upper), moved);
}
