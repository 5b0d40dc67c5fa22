/**
 * One batched pass per model: every request brings its own image (any size), class and
 * objective sign; each is preprocessed on its own (resize, range, diverse draw), the results
 * are stacked into one batch for the network, and one backward pass returns every request's
 * input gradient. Per-image losses are summed, so each image's gradient depends on that
 * image alone: a request gets the same bytes whether it runs alone or in a batch of eight.
 * Used in-process (LocalRunner) and inside each pool worker.
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier, DiverseInput } from '../models/types';

export interface GradRequest {
  /** Current image, 0..255, [height, width, 3] row-major. */
  image: Float32Array;
  height: number;
  width: number;
  /** Class whose cross-entropy is the objective. */
  cls: number;
  /** true: move towards cls (descend its loss); false: away from it (ascend). */
  towards: boolean;
  /** The class's raw logit instead of its log-softmax (absent: cross-entropy). */
  logit?: boolean;
  /**
   * The C&W margin instead (Carlini & Wagner 2017), with this kappa: score = min(z_cls -
   * max_{j != cls} z_j, kappa). Towards cls it is raised until cls leads by kappa; away from it,
   * lowered until another class leads by kappa. Takes precedence over `logit`.
   */
  margin?: number;
  diverse?: DiverseInput;
  /**
   * Also return the network's softmax probabilities for this input (as the network saw it, with
   * the diverse draw if any), appended after the gradient: result length height*width*3 + classes.
   * The forward pass computes them anyway; an attack's first step uses them as its "before"
   * prediction instead of a separate pass (see splitGradProbs).
   */
  withProbs?: boolean;
  /**
   * Where to write the result (the gradient, then the probabilities with withProbs), when the
   * runtime can: the onnxruntime passes do, and then return this array. Callers that send the
   * same image size every step pass one buffer (a SharedArrayBuffer, so that it crosses to a
   * worker and back without a copy) instead of a fresh result per pass. Use the returned array.
   */
  out?: Float32Array;
}

/** Splits a withProbs result into the gradient and the probabilities (views, no copy). */
export function splitGradProbs(result: Float32Array, req: Pick<GradRequest, 'height' | 'width'>): { grad: Float32Array; probs: Float32Array } {
  const n = req.height * req.width * 3;
  return { grad: result.subarray(0, n), probs: result.subarray(n) };
}

/** Each request's margin min(z_cls - max_{j != cls} z_j, kappa) (requests without one: kappa 0, masked out by the caller). */
function marginAt(logits: tf.Tensor2D, onehot: tf.Tensor2D, reqs: GradRequest[]): tf.Tensor1D {
  const own = tf.sum(tf.mul(logits, onehot), 1);
  // The other classes' best: the class itself pushed far below every logit.
  const others = tf.max(tf.sub(logits, tf.mul(onehot, 1e9)), 1);
  return tf.minimum(tf.sub(own, others), tf.tensor1d(reqs.map((r) => r.margin ?? 0))) as tf.Tensor1D;
}

/** Each request's score of its class: log-softmax (cross-entropy's negative), the raw logit, or the C&W margin. */
function scoreAt(logits: tf.Tensor2D, reqs: GradRequest[]): tf.Tensor1D {
  const onehot = tf.oneHot(tf.tensor1d(reqs.map((r) => r.cls), 'int32'), logits.shape[1]) as tf.Tensor2D;
  const picked = (z: tf.Tensor2D) => tf.sum(tf.mul(z, onehot), 1) as tf.Tensor1D;
  const useMargin = reqs.map((r) => r.margin !== undefined);
  if (useMargin.every((u) => u)) return marginAt(logits, onehot, reqs);
  const useLogit = reqs.map((r, i) => r.logit === true && !useMargin[i]);
  let score: tf.Tensor1D;
  if (useLogit.every((u) => !u)) score = picked(tf.logSoftmax(logits));
  else if (useLogit.every((u) => u)) score = picked(logits);
  else {
    // Mixed batch: both scores, each request keeps its own.
    const mask = tf.tensor1d(useLogit.map((u) => (u ? 1 : 0)));
    score = tf.add(tf.mul(picked(logits), mask), tf.mul(picked(tf.logSoftmax(logits)), tf.sub(1, mask))) as tf.Tensor1D;
  }
  if (!useMargin.some((u) => u)) return score;
  const marginMask = tf.tensor1d(useMargin.map((u) => (u ? 1 : 0)));
  return tf.add(tf.mul(marginAt(logits, onehot, reqs), marginMask), tf.mul(score, tf.sub(1, marginMask))) as tf.Tensor1D;
}

/**
 * Reads tensors out and frees them. Typed arrays must not be returned from tf.tidy: tidy walks
 * its result looking for tensors, element by element (measured: 75% of a MobileNetV2 step on
 * a 512x384 image).
 */
function readAndDispose(tensors: tf.Tensor[]): Float32Array[] {
  try {
    return tensors.map((t) => t.dataSync() as Float32Array);
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * Directions (the gradient oriented as progress) for a batch of requests on one model, in
 * passes of at most `microBatch` images. Why split: a wasm heap never shrinks, so the largest
 * pass a worker ever runs sets its memory for good (InceptionV3 at batch 8 on 512x384 inputs:
 * ~3 GiB), while wasm's throughput per image is about the same at batch 1 as at 8. The bytes
 * do not depend on the split: each image's gradient depends on that image alone.
 */
export function batchDirections(model: Classifier, reqs: GradRequest[], microBatch = Infinity): Float32Array[] {
  if (reqs.length <= microBatch) return onePass(model, reqs);
  const out: Float32Array[] = [];
  for (let i = 0; i < reqs.length; i += microBatch) out.push(...onePass(model, reqs.slice(i, i + microBatch)));
  return out;
}

function onePass(model: Classifier, reqs: GradRequest[]): Float32Array[] {
  const wantProbs = reqs.some((r) => r.withProbs);
  let probs: tf.Tensor2D | undefined;
  const grads = tf.tidy(() => {
    const xs = reqs.map((r) => tf.tensor4d(r.image, [1, r.height, r.width, 3]));
    // towards: minimise CE = maximise log p; away: maximise CE. The direction is the gradient of
    // sum_i sign_i * score_i(cls_i), with sign +1 towards and -1 away (score: log p, or the logit).
    const signs = tf.tensor1d(reqs.map((r) => (r.towards ? 1 : -1)));
    const objective = (...images: tf.Tensor[]) => {
      const inputs = images.map((x, i) => model.preprocess(x as tf.Tensor4D, reqs[i].diverse));
      const logits = model.forwardInputs(inputs.length === 1 ? inputs[0] : (tf.concat(inputs, 0) as tf.Tensor4D));
      if (wantProbs) probs = tf.keep(tf.softmax(logits));
      return tf.sum(tf.mul(scoreAt(logits, reqs), signs)) as tf.Scalar;
    };
    return tf.grads(objective)(xs);
  });
  const out = readAndDispose(grads);
  if (!probs) return out;
  const k = probs.shape[1];
  const [flat] = readAndDispose([probs]);
  return out.map((g, i) => {
    if (!reqs[i].withProbs) return g;
    const both = new Float32Array(g.length + k);
    both.set(g);
    both.set(flat.subarray(i * k, (i + 1) * k), g.length);
    return both;
  });
}

/** Softmax probabilities for a batch of images on one model (no gradient). */
export function batchProbabilities(model: Classifier, reqs: Pick<GradRequest, 'image' | 'height' | 'width'>[]): Float32Array[] {
  const probs = tf.tidy(() => {
    const inputs = reqs.map((r) => model.preprocess(tf.tensor4d(r.image, [1, r.height, r.width, 3])));
    return tf.softmax(model.forwardInputs(inputs.length === 1 ? inputs[0] : (tf.concat(inputs, 0) as tf.Tensor4D)));
  });
  const k = probs.shape[1];
  const [flat] = readAndDispose([probs]);
  return reqs.map((_, i) => flat.slice(i * k, (i + 1) * k));
}
