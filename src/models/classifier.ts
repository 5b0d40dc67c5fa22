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

/** The per-channel map from pixels [0, 255] to network input: x_c = p_c * scale[c] + offset[c] (after the channel order). */
export function pixelAffine(spec: ModelSpec): { scale: number[]; offset: number[] } {
  if (spec.mean && spec.std) {
    const { mean, std } = spec;
    return { scale: std.map((s) => 1 / (255 * s)), offset: mean.map((m, c) => -m / std[c]) };
  }
  const [lo, hi] = spec.inputRange ?? [0, 1];
  return { scale: [0, 1, 2].map(() => (hi - lo) / 255), offset: [lo, lo, lo] };
}

/**
 * torchvision's Resize(round(size / cropFraction)) + CenterCrop(size) for an H x W image: the
 * size the whole image is resized to (so that it covers the enlarged box), and where the
 * input-size crop sits in it.
 */
export function centerCropBox(spec: ModelSpec, H: number, W: number): { rh: number; rw: number; top: number; left: number } {
  const [h, w] = spec.inputSize;
  const f = spec.cropFraction ?? 0.875;
  const s = Math.max(Math.round(h / f) / H, Math.round(w / f) / W);
  const rh = Math.max(h, Math.floor(H * s + 1e-9)), rw = Math.max(w, Math.floor(W * s + 1e-9));
  return { rh, rw, top: Math.round((rh - h) / 2), left: Math.round((rw - w) / 2) };
}

/** The centre crop, differentiably: resize, then slice the middle out. */
function centerCrop(x: tf.Tensor4D, spec: ModelSpec): tf.Tensor4D {
  const [h, w] = spec.inputSize;
  const { rh, rw, top, left } = centerCropBox(spec, x.shape[1], x.shape[2]);
  return tf.slice(resize(x, rh, rw, spec.alignCorners), [0, top, left, 0], [-1, h, w, 3]);
}

/** A diverse-inputs draw's geometry: the drawn size, the padded canvas, and the offset in it. */
export function diverseBox(spec: ModelSpec, diverse: DiverseInput): { sh: number; sw: number; oh: number; ow: number; top: number; left: number } {
  const [h, w] = spec.inputSize;
  const sh = Math.floor(h * diverse.scale), sw = Math.floor(w * diverse.scale);
  const oh = Math.ceil(h * diverse.maxScale), ow = Math.ceil(w * diverse.maxScale);
  return { sh, sw, oh, ow, top: Math.floor(diverse.offsetY * (oh - sh + 1)), left: Math.floor(diverse.offsetX * (ow - sw + 1)) };
}

/** Diverse inputs: resize to the drawn size, pad with `value` at the drawn offset, back to the input size. */
function diversePad(x: tf.Tensor4D, spec: ModelSpec, diverse: DiverseInput, value: number): tf.Tensor4D {
  const { sh, sw, oh, ow, top, left } = diverseBox(spec, diverse);
  return tf.pad(resize(x, sh, sw, spec.alignCorners), [[0, 0], [top, oh - sh - top], [left, ow - sw - left], [0, 0]], value);
}

/**
 * Resize (bilinear, the model's convention, or torchvision's centre crop) and map [0, 255] to
 * the model's input. With `diverse`, the image is first resized to the drawn size, zero-padded
 * at the drawn offset, and brought back to the input size (diverse inputs; fixed-size networks
 * need it). The bundled models' path (a plain input range, RGB, squash) keeps its historical
 * order of operations, so their bytes do not change; other models resize in pixel space, swap
 * channels, then scale.
 */
export function preprocessImages(spec: ModelSpec, images: tf.Tensor4D, diverse?: DiverseInput): tf.Tensor4D {
  return tf.tidy(() => {
    const [h, w] = spec.inputSize;
    if (spec.inputRange && !spec.mean && spec.channelOrder !== 'BGR' && spec.resize !== 'center-crop') {
      const [lo, hi] = spec.inputRange;
      let x = tf.add(tf.mul(images, (hi - lo) / 255), lo) as tf.Tensor4D;
      if (diverse) x = diversePad(x, spec, diverse, lo);
      return resize(x, h, w, spec.alignCorners);
    }
    let x = spec.resize === 'center-crop' ? centerCrop(images, spec) : images;
    if (diverse) x = diversePad(x, spec, diverse, 0);
    x = resize(x, h, w, spec.alignCorners);
    if (spec.channelOrder === 'BGR') x = tf.reverse(x, 3);
    const { scale, offset } = pixelAffine(spec);
    return tf.add(tf.mul(x, tf.tensor1d(scale)), tf.tensor1d(offset)) as tf.Tensor4D;
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
