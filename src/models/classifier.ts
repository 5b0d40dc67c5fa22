/**
 * A network wrapped as the engine sees it: user pixels in [0, 255] at any size go in,
 * pre-softmax logits come out, with the model's own resize and input scaling inside the
 * differentiable function (so attack gradients land on the user's pixels).
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier, ModelSpec } from './types';

/** The part of a network the classifier needs: model-range input at model size -> logits. */
export interface LogitsNet {
  forward(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

export class NetClassifier implements Classifier {
  constructor(
    readonly spec: ModelSpec,
    private readonly net: LogitsNet,
  ) {}

  /** Resize (bilinear, the model's convention) and map [0, 255] to the model's input range. */
  preprocess(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [h, w] = this.spec.inputSize;
      const resized =
        images.shape[1] === h && images.shape[2] === w
          ? images
          : tf.image.resizeBilinear(images, [h, w], this.spec.alignCorners);
      const [lo, hi] = this.spec.inputRange;
      return tf.add(tf.mul(resized, (hi - lo) / 255), lo) as tf.Tensor4D;
    });
  }

  logits(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.net.forward(this.preprocess(images)));
  }

  dispose(): void {
    this.net.dispose();
  }
}
