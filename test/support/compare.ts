/** Ways to compare arrays of numbers in tests (gradients, logits). */
import type { Test } from 'tap';

/** ||a - b|| / ||b||. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

export const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
export const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * Every `stride`-th coordinate of `grad` against a central finite difference (step 0.25) of `f`
 * at `base`: within 2e-4 + 2% of the difference, and more than 40 coordinates checked.
 */
export function agreesWithFiniteDifferences(t: Test, grad: Float32Array, base: Float32Array, f: (x: Float32Array) => number, stride: number): void {
  const h = 0.25;
  let checked = 0;
  for (let i = 0; i < base.length; i += stride) {
    const plus = base.slice();
    const minus = base.slice();
    plus[i] += h;
    minus[i] -= h;
    const fd = (f(plus) - f(minus)) / (2 * h);
    if (Math.abs(grad[i] - fd) > 2e-4 + 0.02 * Math.abs(fd)) t.fail(`value ${i}: analytic ${grad[i]} vs finite difference ${fd}`);
    checked++;
  }
  t.ok(checked > 40, `${checked} coordinates agree`);
}
