/**
 * SI-FGSM — Lin, Song, He, Wang, Hopcroft, "Nesterov Accelerated Gradient and Scale Invariance
 * for Adversarial Attacks", ICLR 2020. https://arxiv.org/abs/1908.06281
 * Norm: L-infinity. Scale invariance: each step's gradient is the mean over m scaled copies
 * x / 2^i, i = 0..m-1 (the gradient with respect to x, so copy i's carries the factor 1/2^i),
 * then MI-FGSM's momentum and signed step. The m - 1 copies beyond x are probes: their passes go
 * out with x's and are batched with it. Defaults: m (`scales`) = 5, mu = 1, alpha = eps / iterations.
 */
import * as tf from '@tensorflow/tfjs';
import { Type } from '@sinclair/typebox';
import { IterativeAttack, meanDirection, type AttackContext, type AttackState, type Probe, type ProbeSums } from './base';
import { consume } from './box';
import { alphaOption, defineAttack, muOption } from './definition';
import { momentumSignStep } from './mi-fgsm';

export interface SiFgsmOptions {
  scales: number;
  mu: number;
  alpha?: number;
}

export class SiFgsm extends IterativeAttack {
  readonly name = 'si-fgsm';
  readonly options: SiFgsmOptions;

  constructor(options: Partial<SiFgsmOptions> = {}) {
    super();
    this.options = { scales: 5, mu: 1, ...options };
  }

  /** Copy i = 1..m-1 is x / 2^i; its gradient with respect to x carries the factor 1/2^i. */
  protected override probes(x: tf.Tensor4D): Probe[] {
    return Array.from({ length: this.options.scales - 1 }, (_, k) => ({ make: () => tf.div(x, 2 ** (k + 1)) as tf.Tensor4D, weight: 1 / 2 ** (k + 1) }));
  }

  protected step(_x: tf.Tensor4D, directions: tf.Tensor4D[], ctx: AttackContext, state: AttackState, probes: ProbeSums): tf.Tensor4D {
    let sum = meanDirection(directions);
    if (probes.length > 0) {
      const copies = meanDirection(probes);
      sum = consume(() => tf.add(sum, copies) as tf.Tensor4D, sum, copies);
    }
    const grad = consume(() => tf.div(sum, this.options.scales) as tf.Tensor4D, sum);
    return momentumSignStep(grad, state, this.options.mu, this.options.alpha ?? ctx.eps / ctx.iterations);
  }
}

export const siFgsmAttack = defineAttack({
  id: 'si-fgsm',
  title: 'SI-FGSM',
  paper: { authors: 'Lin, Song, He, Wang, Hopcroft', year: 2020, title: 'Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks', url: 'https://arxiv.org/abs/1908.06281' },
  summary: 'MI-FGSM on the mean gradient over `scales` copies x/2^i (scale invariance): `scales` passes per model per step, batched',
  options: Type.Object({
    scales: Type.Integer({ minimum: 1, maximum: 16, default: 5, description: 'si-fgsm: scaled copies x / 2^i per step (m in the paper); each is one more pass per model.' }),
    mu: muOption(),
    alpha: Type.Optional(alphaOption('eps / iterations')),
  }),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: (options) => new SiFgsm(options),
});
