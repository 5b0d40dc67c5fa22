/**
 * mng — the seed: our NIPS 2017 Adversarial Attacks competition entry (targeted track, 8th).
 * https://www.kaggle.com/c/nips-2017-targeted-adversarial-attack
 * Norm: L1 (`mng-l1`, default) or L2 (`mng-l2`) normalised gradient steps, L-infinity budget.
 * Defaults: 20 iterations; alpha = (eps/16) * (20/iterations) * N for L1, * sqrt(N) for L2,
 * N = width*height*3 (so the mean per-value step is eps/16 for 20 iterations).
 *
 * Per model: g = direction; step = alpha * g / ||g||; clip the step to the box; recompute
 * the norm over the values whose step was not clipped, rescale, clip again. The models'
 * steps are averaged. The renormalisation is the point: values already at the box edge stop
 * absorbing step length, so the budget goes where it can still move the image.
 */
import * as tf from '@tensorflow/tfjs';
import { IterativeAttack, meanDirection, perImageSum, type AttackContext } from './base';
import { clipToBox, consume, insideBox } from './box';
import { boxKernels, type BoxKernels } from '../../backend/box-kernels';
import { Type } from '@sinclair/typebox';
import { defineAttack } from './definition';

export type MngNorm = 'l1' | 'l2';

/** Smallest norm we divide by: a zero gradient gives a zero step instead of NaN. */
const TINY = 1e-12;
const f32 = Math.fround;

/** Per-image norm, [N, 1, 1, 1]; its full-size intermediate is freed at once. */
function norm(g: tf.Tensor4D, kind: MngNorm): tf.Tensor4D {
  if (kind === 'l1') {
    const magnitude = tf.abs(g);
    return consume(() => perImageSum(magnitude), magnitude);
  }
  const squares = tf.square(g);
  return tf.sqrt(consume(() => perImageSum(squares), squares)) as tf.Tensor4D;
}

export class Mng extends IterativeAttack {
  readonly name: string;

  constructor(readonly norm: MngNorm = 'l1') {
    super();
    this.name = `mng-${norm}`;
  }

  /** The fixed step length, in the chosen norm, for one image of `values` numbers. */
  alpha(ctx: AttackContext, values: number): number {
    const perValue = (ctx.eps / 16) * (20 / ctx.iterations);
    return perValue * (this.norm === 'l1' ? values : Math.sqrt(values));
  }

  /** The per-model step, exactly as the seed computes it. Exposed for tests. */
  modelStep(x: tf.Tensor4D, g: tf.Tensor4D, ctx: AttackContext): tf.Tensor4D {
    const [, h, w, c] = x.shape;
    const alpha = this.alpha(ctx, h * w * c);
    const kernels = boxKernels(ctx.lower, ctx.upper, x, g);
    return kernels ? this.kernelStep(kernels, x, g, alpha) : this.opsStep(x, g, ctx, alpha);
  }

  /**
   * The step in three passes of the box kernels: the norm, the norm over the values left inside
   * the box, the clipped step. The scalars between them are the ops path's float32 scalars
   * (alpha / max(norm, TINY), in float32), so the bytes are the same.
   */
  private kernelStep(kernels: BoxKernels, x: tf.Tensor4D, g: tf.Tensor4D, alpha: number): tf.Tensor4D {
    const squares = this.norm === 'l2';
    const scale = (sum: number) => f32(f32(alpha) / Math.max(squares ? f32(Math.sqrt(sum)) : sum, f32(TINY)));
    const first = kernels.sums(g, squares).map(scale);
    return kernels.step(x, g, kernels.maskedSums(x, g, first, squares).map(scale));
  }

  /** The same step as tfjs ops, where the kernels cannot run (another backend). */
  private opsStep(x: tf.Tensor4D, g: tf.Tensor4D, ctx: AttackContext, alpha: number): tf.Tensor4D {
    return tf.tidy(() => {
      // Each full-size intermediate is freed as soon as it is used (see consume).
      const first = tf.mul(g, tf.div(alpha, tf.maximum(norm(g, this.norm), TINY)));
      const target = consume(() => tf.add(x, first), first);
      const inside = consume(() => insideBox(target, ctx.lower, ctx.upper), target);
      const gInside = consume(() => tf.mul(g, inside) as tf.Tensor4D, inside);
      const rescaled = tf.mul(g, tf.div(alpha, tf.maximum(consume(() => norm(gInside, this.norm), gInside), TINY)));
      const moved = consume(() => tf.add(x, rescaled) as tf.Tensor4D, rescaled);
      const clipped = consume(() => clipToBox(moved, ctx.lower, ctx.upper), moved);
      return consume(() => tf.sub(clipped, x) as tf.Tensor4D, clipped);
    });
  }

  // Each model's step needs only its own gradient: computed as soon as that gradient arrives.
  protected override perModel(x: tf.Tensor4D, g: tf.Tensor4D, ctx: AttackContext): tf.Tensor4D {
    return this.modelStep(x, g, ctx);
  }

  /** `steps`: the per-model steps (perModel); the ensemble's step is their mean. */
  protected step(_x: tf.Tensor4D, steps: tf.Tensor4D[]): tf.Tensor4D {
    // One model: its step is the mean; the loop frees it once added (no 2.4 MB copy per iteration).
    return steps.length === 1 ? steps[0] : meanDirection(steps);
  }
}

const mngPaper = { authors: 'the seed: our NIPS 2017 competition entry (targeted track, 8th)', year: 2017, title: 'NIPS 2017: Targeted Adversarial Attack', url: 'https://www.kaggle.com/c/nips-2017-targeted-adversarial-attack' };

export const mngL1Attack = defineAttack({
  id: 'mng-l1',
  title: 'mng (L1-normalised steps)',
  paper: mngPaper,
  summary: 'per model: step = alpha·g/‖g‖₁ (alpha = eps/16·20/iterations·N, N values), clipped to the box, renormalised over the unclipped values, clipped again; the models\' steps averaged',
  options: Type.Object({}),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: () => new Mng('l1'),
});

export const mngL2Attack = defineAttack({
  id: 'mng-l2',
  title: 'mng (L2-normalised steps)',
  paper: mngPaper,
  summary: 'as mng-l1 with ‖g‖₂ and alpha = eps/16·20/iterations·√N',
  options: Type.Object({}),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: () => new Mng('l2'),
});
