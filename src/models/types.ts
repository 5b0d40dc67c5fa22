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

/**
 * One draw of the diverse-inputs transform (Xie et al. 2019), relative to the model's input
 * size s: resize to floor(s * scale), zero-pad at the given fractional offsets to
 * ceil(s * maxScale), then resize back to s.
 */
export interface DiverseInput {
  scale: number;
  maxScale: number;
  /** In [0, 1): where the resized image sits inside the padded canvas. */
  offsetY: number;
  offsetX: number;
}

/** A loaded, warmed-up network: a differentiable map from user pixels to logits. */
export interface Classifier {
  readonly spec: ModelSpec;
  /** [1, H, W, 3] user pixels -> [1, h, w, 3] model input (resize, range, optional diverse-inputs draw). */
  preprocess(images: tf.Tensor4D, diverse?: DiverseInput): tf.Tensor4D;
  /** Logits of a batch already at the model's input size and range. */
  forwardInputs(inputs: tf.Tensor4D): tf.Tensor2D;
  /**
   * images: [N, H, W, 3] float32 in [0, 255] at any H, W. The resize to the model's input
   * size and the scaling to its input range happen inside, differentiably.
   * Returns pre-softmax logits [N, labels.length].
   */
  logits(images: tf.Tensor4D, diverse?: DiverseInput): tf.Tensor2D;
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
