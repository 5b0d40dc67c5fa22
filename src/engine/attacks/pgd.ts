/**
 * PGD — Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
 * Adversarial Attacks", ICLR 2018. https://arxiv.org/abs/1706.06083
 * Norm: L-infinity. I-FGSM from a uniform random start in the eps-box (drawn from the request's
 * seed): signed steps of size alpha, projected after each. Defaults: alpha = 2.5 * eps /
 * iterations (the paper's rule of thumb: enough steps to cross the box from any start), 20 iterations.
 */
import * as tf from '@tensorflow/tfjs';
import { Type } from '@sinclair/typebox';
import { IterativeAttack, meanDirection, type AttackContext, type AttackState } from './base';
import { clipToBox, consume } from './box';
import { alphaOption, defineAttack } from './definition';

export class Pgd extends IterativeAttack {
  readonly name = 'pgd';

  constructor(readonly options: { alpha?: number } = {}) {
    super();
  }

  /** Seeds tfjs's generator from the request's random stream, so the start is reproducible. */
  override start(ctx: AttackContext): AttackState {
    const seed = Math.floor(ctx.random() * 2 ** 31);
    const x = tf.tidy(() => clipToBox(tf.add(ctx.clean, tf.randomUniform(ctx.clean.shape, -ctx.eps, ctx.eps, 'float32', seed)) as tf.Tensor4D, ctx.lower, ctx.upper));
    return { x, iteration: 0, memory: {} };
  }

  protected step(_x: tf.Tensor4D, directions: tf.Tensor4D[], ctx: AttackContext): tf.Tensor4D {
    const mean = meanDirection(directions);
    const signs = consume(() => tf.sign(mean), mean);
    return consume(() => tf.mul(signs, this.options.alpha ?? (2.5 * ctx.eps) / ctx.iterations) as tf.Tensor4D, signs);
  }
}

export const pgdAttack = defineAttack({
  id: 'pgd',
  title: 'PGD (random start)',
  paper: { authors: 'Madry, Makelov, Schmidt, Tsipras, Vladu', year: 2018, title: 'Towards Deep Learning Models Resistant to Adversarial Attacks', url: 'https://arxiv.org/abs/1706.06083' },
  summary: 'uniform random start in the eps-box (from `seed`), then signed steps of alpha, projected each time',
  options: Type.Object({ alpha: Type.Optional(alphaOption('2.5 * eps / iterations')) }),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: (options) => new Pgd(options),
});
