import type * as tf from '@tensorflow/tfjs';

/** Where a model's weights come from. Nothing is ever downloaded. */
export type ModelSource =
  | { kind: 'nsfwjs'; name: 'InceptionV3' | 'MobileNetV2' | 'MobileNetV2Mid' }
  | { kind: 'folder'; path: string };

export type ModelFormat = 'layers' | 'graph' | 'onnx';

/** One row of the model table (src/models/table.ts, or a folder's advserve.json: src/models/spec-file.ts). */
export interface ModelSpec {
  id: string;
  source: ModelSource;
  format: ModelFormat;
  /** The model file inside the folder (`model.onnx`, `model.json`); folder models only. */
  file?: string;
  /** [height, width] the network expects. */
  inputSize: [number, number];
  /**
   * Input scaling, one of two forms: `inputRange` [lo, hi] (x = lo + p/255 * (hi - lo)), or
   * `mean` and `std` per channel on the [0, 1] scale (x = (p/255 - mean) / std, torchvision's).
   */
  inputRange?: [number, number];
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Layout of the network's own input; the compiled program always takes NHWC (ONNX models: NCHW by default). */
  layout?: 'NHWC' | 'NCHW';
  /** Channel order the network expects (default RGB). */
  channelOrder?: 'RGB' | 'BGR';
  /** How the user's image becomes inputSize: the whole image resized (default), or torchvision's resize-shorter-side + centre crop. */
  resize?: 'squash' | 'center-crop';
  /** center-crop: the crop's share of the resized shorter side (default 0.875: 224 of 256). */
  cropFraction?: number;
  /** The classes, in the order the service presents them (background dropped; ordered by classIds when given). */
  labels: string[];
  /** Stable class ids (e.g. WordNet ids), parallel to labels; ensembles line classes up by them. */
  classIds?: string[];
  /**
   * Which network output each presented class reads (length labels.length), when that is not the
   * identity: background dropped, classes reordered by classId. Applied inside the compiled network.
   */
  outputMap?: number[];
  /** What the network's last value is: logits (default), or probabilities (their log is used as logits). */
  output?: 'logits' | 'probabilities';
  /** True when the network's last op is a softmax; logits are then taken before it. */
  endsInSoftmax: boolean;
  /** Set by the loader: 'dequantized' when the file's quantized ops are attacked through their float equivalent. */
  quantization?: 'none' | 'dequantized';
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
  classIds?: string[];
  classes: number;
  inputSize: [number, number];
  inputRange?: [number, number];
  mean?: number[];
  std?: number[];
  layout: 'NHWC' | 'NCHW';
  channelOrder: 'RGB' | 'BGR';
  resize: 'squash' | 'center-crop';
  cropFraction?: number;
  format: ModelFormat;
  /** 'none', or 'dequantized': a quantized file attacked through its float equivalent (dequantized weights, float activations). */
  quantization: 'none' | 'dequantized';
  source: string;
  backend: string;
}
