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
