/**
 * MI-FGSM — Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018.
 * https://arxiv.org/abs/1710.06081
 * Norm: L-infinity. g <- mu * g + grad / ||grad||_1 (per image), x <- x + alpha * sign(g),
 * alpha = eps / iterations. Defaults: mu = 1.0, 20 iterations. The momentum is what makes
 * the examples transfer: it stabilises the update direction across steps.
 * A fixed alpha (e.g. 2 with 100+ iterations, as Zhao et al. 2021 run targeted transfer) lets
 * the image keep moving inside the eps-box after it first reaches its edge.
 */
import * as tf from '@tensorflow/tfjs';
import { IterativeAttack, meanDirection, perImageSum, type AttackContext, type AttackState } from './base';
import { consume } from './box';
import { Type } from '@sinclair/typebox';
import { alphaOption, defineAttack, muOption } from './definition';

export interface MiFgsmOptions {
  /** Momentum decay factor. */
  mu: number;
  /** Step on the 0..255 scale; undefined: eps / iterations (the paper's, one box-width in all). */
  alpha?: number;
}

export const MI_FGSM_DEFAULTS: MiFgsmOptions = { mu: 1.0 };

export class MiFgsm extends IterativeAttack {
  readonly name = 'mi-fgsm';
  readonly options: MiFgsmOptions;

  constructor(options: Partial<MiFgsmOptions> = {}) {
    super();
    this.options = { ...MI_FGSM_DEFAULTS, ...options };
  }

  protected step(_x: tf.Tensor4D, directions: tf.Tensor4D[], ctx: AttackContext, state: AttackState): tf.Tensor4D {
    return momentumSignStep(meanDirection(directions), state, this.options.mu, this.options.alpha ?? ctx.eps / ctx.iterations);
  }
}

/**
 * The momentum update MI-FGSM introduced, shared by SI- and VMI-FGSM: g <- mu * g + grad / ||grad||_1
 * (per image; g in state.memory.momentum), step = alpha * sign(g). Consumes `grad`.
 */
export function momentumSignStep(grad: tf.Tensor4D, state: AttackState, mu: number, alpha: number): tf.Tensor4D {
  // Full-size intermediates are freed as soon as they are used (see consume).
  const magnitude = tf.abs(grad);
  const total = consume(() => perImageSum(magnitude), magnitude);
  const normalized = consume(() => tf.div(grad, tf.maximum(total, 1e-12)), grad);
  const previous = state.memory.momentum;
  let momentum = normalized;
  if (previous) {
    const decayed = tf.mul(previous, mu);
    momentum = consume(() => tf.add(decayed, normalized), decayed, normalized);
  }
  state.memory.momentum = momentum as tf.Tensor4D;
  const signs = tf.sign(momentum);
  return consume(() => tf.mul(signs, alpha) as tf.Tensor4D, signs);
}

export const miFgsmAttack = defineAttack({
  id: 'mi-fgsm',
  title: 'MI-FGSM',
  paper: { authors: 'Dong et al.', year: 2018, title: 'Boosting Adversarial Attacks with Momentum', url: 'https://arxiv.org/abs/1710.06081' },
  summary: 'momentum g ← mu·g + ∇/‖∇‖₁, signed steps of alpha',
  options: Type.Object({ mu: muOption(), alpha: Type.Optional(alphaOption('eps / iterations')) }),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: (options) => new MiFgsm(options),
});
