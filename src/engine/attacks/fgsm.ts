/**
 * FGSM — Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", 2015.
 * https://arxiv.org/abs/1412.6572
 * Norm: L-infinity. One signed step of size eps. Targeted, it is the NIPS 2017 toolkit's
 * `step_target`. Defaults: 1 iteration whatever is requested.
 */
import * as tf from '@tensorflow/tfjs';
import { IterativeAttack, meanDirection, type AttackContext } from './base';
import { consume } from './box';
import { Type } from '@sinclair/typebox';
import { defineAttack } from './definition';

export class Fgsm extends IterativeAttack {
  readonly name = 'fgsm';
  override readonly defaultIterations = 1;

  override iterationsFor(): number {
    return 1;
  }

  protected step(_x: tf.Tensor4D, directions: tf.Tensor4D[], ctx: AttackContext): tf.Tensor4D {
    const mean = meanDirection(directions);
    const signs = consume(() => tf.sign(mean), mean);
    return consume(() => tf.mul(signs, ctx.eps) as tf.Tensor4D, signs);
  }
}

export const fgsmAttack = defineAttack({
  id: 'fgsm',
  title: 'FGSM',
  paper: { authors: 'Goodfellow, Shlens, Szegedy', year: 2015, title: 'Explaining and Harnessing Adversarial Examples', url: 'https://arxiv.org/abs/1412.6572' },
  summary: 'one signed step of size eps, always 1 iteration (targeted = the NIPS 2017 toolkit\'s `step_target`)',
  options: Type.Object({}),
  modifiers: ['di', 'ti', 'loss'],
  defaultIterations: 1,
  create: () => new Fgsm(),
});
