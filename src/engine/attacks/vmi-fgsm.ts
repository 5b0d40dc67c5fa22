/**
 * VMI-FGSM — Wang, He, "Enhancing the Transferability of Adversarial Attacks through Variance
 * Tuning", CVPR 2021. https://arxiv.org/abs/2103.15571
 * Norm: L-infinity. MI-FGSM whose gradient is tuned by the previous step's variance:
 * g <- mu * g + (grad + v) / ||grad + v||_1, then v <- mean_k grad(x + r_k) - grad with r_k
 * uniform in [-beta * eps, beta * eps] (N samples, drawn from the request's seed). The N
 * neighbours are probes: their passes go out with x's and are batched with it.
 * Defaults: N (`samples`) = 20, beta = 1.5, mu = 1, alpha = eps / iterations.
 */
import * as tf from '@tensorflow/tfjs';
import { Type } from '@sinclair/typebox';
import { IterativeAttack, meanDirection, type AttackContext, type AttackState, type Probe, type ProbeSums } from './base';
import { consume } from './box';
import { alphaOption, defineAttack, muOption } from './definition';
import { momentumSignStep } from './mi-fgsm';

export interface VmiFgsmOptions {
  samples: number;
  beta: number;
  mu: number;
  alpha?: number;
}

export class VmiFgsm extends IterativeAttack {
  readonly name = 'vmi-fgsm';
  readonly options: VmiFgsmOptions;

  constructor(options: Partial<VmiFgsmOptions> = {}) {
    super();
    this.options = { samples: 20, beta: 1.5, mu: 1, ...options };
  }

  /** The neighbours' seeds are drawn now, in order, so the draws do not depend on when each is made. */
  protected override probes(x: tf.Tensor4D, ctx: AttackContext): Probe[] {
    const radius = this.options.beta * ctx.eps;
    const weight = 1 / this.options.samples;
    return Array.from({ length: this.options.samples }, () => {
      const seed = Math.floor(ctx.random() * 2 ** 31);
      return { make: () => tf.tidy(() => tf.add(x, tf.randomUniform(x.shape, -radius, radius, 'float32', seed)) as tf.Tensor4D), weight };
    });
  }

  protected step(_x: tf.Tensor4D, directions: tf.Tensor4D[], ctx: AttackContext, state: AttackState, probes: ProbeSums): tf.Tensor4D {
    const grad = meanDirection(directions);
    const variance = state.memory.variance;
    const tuned = variance ? tf.add(grad, variance) : grad.clone();
    // The next step's variance: the neighbours' mean gradient (the probes are weighted 1/N) less this one.
    const neighbours = meanDirection(probes);
    state.memory.variance = consume(() => tf.sub(neighbours, grad) as tf.Tensor4D, neighbours, grad);
    return momentumSignStep(tuned as tf.Tensor4D, state, this.options.mu, this.options.alpha ?? ctx.eps / ctx.iterations);
  }
}

export const vmiFgsmAttack = defineAttack({
  id: 'vmi-fgsm',
  title: 'VMI-FGSM',
  paper: { authors: 'Wang, He', year: 2021, title: 'Enhancing the Transferability of Adversarial Attacks through Variance Tuning', url: 'https://arxiv.org/abs/2103.15571' },
  summary: 'MI-FGSM with the gradient plus the previous step\'s variance: mean gradient over `samples` uniform neighbours within beta·eps, less the gradient; `samples` + 1 passes per model per step, batched',
  options: Type.Object({
    samples: Type.Integer({ minimum: 1, maximum: 64, default: 20, description: 'vmi-fgsm: neighbours sampled per step (N in the paper); each is one more pass per model.' }),
    beta: Type.Number({ exclusiveMinimum: 0, maximum: 10, default: 1.5, description: 'vmi-fgsm: the neighbourhood, beta * eps around the current image.' }),
    mu: muOption(),
    alpha: Type.Optional(alphaOption('eps / iterations')),
  }),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: (options) => new VmiFgsm(options),
});
