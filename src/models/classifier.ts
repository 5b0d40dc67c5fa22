/**
 * A network wrapped as the engine sees it: user pixels in [0, 255] at any size go in,
 * pre-softmax logits come out, with the model's own resize and input scaling inside the
 * differentiable function (so attack gradients land on the user's pixels).
 */
import * as tf from '@tensorflow/tfjs';
import type { NetGraph } from './net/program';
import type { Classifier, DiverseInput, ModelSpec } from './types';

/** The part of a network the classifier needs: model-range input at model size -> logits. */
export interface LogitsNet {
  forward(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
  /** The compiled program as data (compiled nets only), for export to onnxruntime. */
  graph?(): NetGraph;
}

function resize(x: tf.Tensor4D, h: number, w: number, alignCorners: boolean): tf.Tensor4D {
  return x.shape[1] === h && x.shape[2] === w ? x : tf.image.resizeBilinear(x, [h, w], alignCorners);
}

/**
 * Resize (bilinear, the model's convention) and map [0, 255] to the model's input range.
 * With `diverse`, the image is first resized to the drawn size, zero-padded at the drawn
 * offset, and brought back to the input size (diverse inputs; fixed-size networks need it).
 */
export function preprocessImages(spec: ModelSpec, images: tf.Tensor4D, diverse?: DiverseInput): tf.Tensor4D {
  return tf.tidy(() => {
    const [h, w] = spec.inputSize;
    const [lo, hi] = spec.inputRange;
    let x = tf.add(tf.mul(images, (hi - lo) / 255), lo) as tf.Tensor4D;
    if (diverse) {
      const sh = Math.floor(h * diverse.scale);
      const sw = Math.floor(w * diverse.scale);
      const oh = Math.ceil(h * diverse.maxScale);
      const ow = Math.ceil(w * diverse.maxScale);
      const top = Math.floor(diverse.offsetY * (oh - sh + 1));
      const left = Math.floor(diverse.offsetX * (ow - sw + 1));
      x = tf.pad(resize(x, sh, sw, spec.alignCorners), [[0, 0], [top, oh - sh - top], [left, ow - sw - left], [0, 0]], lo);
    }
    return resize(x, h, w, spec.alignCorners);
  });
}

export class NetClassifier implements Classifier {
  constructor(
    readonly spec: ModelSpec,
    private readonly net: LogitsNet,
  ) {}

  /** See preprocessImages. */
  preprocess(images: tf.Tensor4D, diverse?: DiverseInput): tf.Tensor4D {
    return preprocessImages(this.spec, images, diverse);
  }

  /** Logits of images already at the model's input size and range (a batch of preprocess() outputs). */
  forwardInputs(inputs: tf.Tensor4D): tf.Tensor2D {
    return this.net.forward(inputs);
  }

  logits(images: tf.Tensor4D, diverse?: DiverseInput): tf.Tensor2D {
    return tf.tidy(() => this.net.forward(this.preprocess(images, diverse)));
  }

  dispose(): void {
    this.net.dispose();
  }
}
