import type * as tf from '@tensorflow/tfjs';

/** Where a model's weights come from. Nothing is ever downloaded. */
export type ModelSource =
  | { kind: 'nsfwjs'; name: 'InceptionV3' | 'MobileNetV2' | 'MobileNetV2Mid' }
  | { kind: 'folder'; path: string };

/** One row of the model table (src/models/table.ts, or a folder's advserve.json). */
export interface ModelSpec {
  id: string;
  source: ModelSource;
  format: 'layers' | 'graph';
  /** [height, width] the network expects. */
  inputSize: [number, number];
  /** The value range the network expects its RGB input in, e.g. [0, 1] or [-1, 1]. */
  inputRange: [number, number];
  labels: string[];
  /** True when the network's last op is a softmax; logits are then taken before it. */
  endsInSoftmax: boolean;
  /** Bilinear resize convention used when the user's image is resized to inputSize. */
  alignCorners: boolean;
}

/** A loaded, warmed-up network: a differentiable map from user pixels to logits. */
export interface Classifier {
  readonly spec: ModelSpec;
  /**
   * images: [N, H, W, 3] float32 in [0, 255] at any H, W. The resize to the model's input
   * size and the scaling to its input range happen inside, differentiably.
   * Returns pre-softmax logits [N, labels.length].
   */
  logits(images: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

export interface ModelInfo {
  id: string;
  labels: string[];
  inputSize: [number, number];
  inputRange: [number, number];
  format: 'layers' | 'graph';
  source: string;
  backend: string;
}
