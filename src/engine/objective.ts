/**
 * The attack objective per model: cross-entropy of the class aimed at (targeted: descend) or
 * of the clean label (untargeted max-loss: ascend), and its input gradient as a "direction"
 * along which the attack moves.
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/types';
import type { DirectionOracle } from './attacks/base';

export interface Objective {
  /** Class index whose cross-entropy is the loss. */
  cls: number;
  /** true: lower that loss (move towards cls); false: raise it (move away from cls). */
  towards: boolean;
}

/** Cross-entropy of class `cls` from logits [N, K], summed over the batch (per-image gradients stay independent). */
export function crossEntropy(logits: tf.Tensor2D, cls: number): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.fill([logits.shape[0]], cls, 'int32') as tf.Tensor1D, logits.shape[1]);
    return tf.neg(tf.sum(tf.mul(logp, onehot))) as tf.Scalar;
  });
}

/** Direction of one model: -dCE/dx towards the class, +dCE/dx away from it. */
export function modelDirection(model: Classifier, x: tf.Tensor4D, objective: Objective): tf.Tensor4D {
  return tf.tidy(() => {
    const grad = tf.grad((img) => crossEntropy(model.logits(img as tf.Tensor4D), objective.cls))(x) as tf.Tensor4D;
    return objective.towards ? (tf.neg(grad) as tf.Tensor4D) : grad;
  });
}

export function directionOracle(models: Classifier[], objective: Objective): DirectionOracle {
  return (x) => models.map((m) => modelDirection(m, x, objective));
}
