/**
 * I-FGSM (basic iterative method) — Kurakin, Goodfellow, Bengio, "Adversarial examples in the
 * physical world", 2017. https://arxiv.org/abs/1607.02533
 * Norm: L-infinity. Signed steps of size alpha, projected onto the eps-box after each.
 * Targeted, it is the NIPS 2017 toolkit's `iter_target`. Defaults: alpha = 1 (0..255 scale),
 * 20 iterations.
 */
import * as tf from '@tensorflow/tfjs';
import { IterativeAttack, meanDirection } from './base';
import { consume } from './box';
import { Type } from '@sinclair/typebox';
import { alphaOption, defineAttack } from './definition';

export interface IfgsmOptions {
  /** Step size on the 0..255 scale. */
  alpha: number;
}

export const IFGSM_DEFAULTS: IfgsmOptions = { alpha: 1 };

export class Ifgsm extends IterativeAttack {
  readonly name = 'ifgsm';
  readonly options: IfgsmOptions;

  constructor(options: Partial<IfgsmOptions> = {}) {
    super();
    this.options = { ...IFGSM_DEFAULTS, ...options };
  }

  protected step(_x: tf.Tensor4D, directions: tf.Tensor4D[]): tf.Tensor4D {
    const mean = meanDirection(directions);
    const signs = consume(() => tf.sign(mean), mean);
    return consume(() => tf.mul(signs, this.options.alpha) as tf.Tensor4D, signs);
  }
}

export const ifgsmAttack = defineAttack({
  id: 'ifgsm',
  title: 'I-FGSM (BIM)',
  paper: { authors: 'Kurakin, Goodfellow, Bengio', year: 2017, title: 'Adversarial examples in the physical world', url: 'https://arxiv.org/abs/1607.02533' },
  summary: 'signed steps of size alpha, projected onto the eps-box each time (targeted = the toolkit\'s `iter_target`)',
  options: Type.Object({ alpha: alphaOption('1', IFGSM_DEFAULTS.alpha) }),
  modifiers: ['di', 'ti', 'loss', 'stop'],
  defaultIterations: 20,
  create: (options) => new Ifgsm(options),
});
