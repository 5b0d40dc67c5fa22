/**
 * Direction and probability passes with the network in onnxruntime (src/models/onnx/net.ts)
 * and the preprocessing (resize, input range, diverse-inputs draw) in tfjs: tfjs maps each
 * image to the network input, onnxruntime returns the objective's gradient there, and tfjs
 * carries it back through the preprocessing to the user's pixels (tf.grad with that seed).
 * Each image's result depends on that image alone, as in ./gradients.
 */
import * as tf from '@tensorflow/tfjs';
import { preprocessImages } from '../models/classifier';
import type { OnnxGradientNet } from '../models/onnx/net';
import type { ModelSpec } from '../models/types';
import type { GradRequest } from './gradients';
import type { ImageRequest, ModelPasses } from './passes';

function softmaxRow(logits: Float32Array, row: number, k: number): Float32Array {
  const z = logits.subarray(row * k, (row + 1) * k);
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  const e = Array.from(z, (v) => {
    const x = Math.exp(v - max);
    sum += x;
    return x;
  });
  return Float32Array.from(e, (x) => x / sum);
}

function imageTensors(reqs: ImageRequest[]): tf.Tensor4D[] {
  return reqs.map((r) => tf.tensor4d(r.image, [1, r.height, r.width, 3]));
}

export class OnnxPasses implements ModelPasses {
  readonly runtime = 'onnx';
  constructor(
    private readonly net: OnnxGradientNet,
    /** Most images in one network pass: onnxruntime's memory arena keeps its largest pass. */
    private readonly microBatch = Infinity,
  ) {}

  get spec(): ModelSpec {
    return this.net.spec;
  }

  /**
   * The network inputs of a batch, stacked: [n, h, w, 3], read out of tfjs in one piece. `images`
   * are the requests' pixels as tensors, kept by the caller for the gradient's way back.
   */
  private inputs(images: tf.Tensor4D[], reqs: Array<ImageRequest & Pick<GradRequest, 'diverse'>>): Float32Array {
    const t = tf.tidy(() => {
      const xs = images.map((im, i) => preprocessImages(this.spec, im, reqs[i].diverse));
      return xs.length === 1 ? xs[0] : tf.concat(xs, 0);
    });
    try {
      return t.dataSync() as Float32Array;
    } finally {
      t.dispose();
    }
  }

  async directions(reqs: GradRequest[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < reqs.length; i += this.microBatch) out.push(...(await this.onePass(reqs.slice(i, i + this.microBatch))));
    return out;
  }

  private async onePass(reqs: GradRequest[]): Promise<Float32Array[]> {
    const [h, w] = this.spec.inputSize;
    const m = h * w * 3;
    const k = this.net.classes;
    const objectives = reqs.map((r) => ({ cls: r.cls, sign: r.towards ? (1 as const) : (-1 as const), logit: r.logit === true, ...(r.margin !== undefined ? { margin: r.margin } : {}) }));
    // Each image goes into tfjs once: its tensor serves the preprocessing and, after the network, its gradient.
    const images = imageTensors(reqs);
    try {
      const { logits, dx } = await this.net.run(this.inputs(images, reqs), reqs.length, objectives);
      return reqs.map((r, i) => {
        // Back through the preprocessing: the vector-Jacobian product with the network-input gradient.
        const g = tf.tidy(() => {
          const seed = tf.tensor4d(dx!.subarray(i * m, (i + 1) * m), [1, h, w, 3]);
          return tf.grad((img) => preprocessImages(this.spec, img as tf.Tensor4D, r.diverse))(images[i], seed);
        });
        const grad = g.dataSync() as Float32Array;
        g.dispose();
        if (!r.withProbs) return grad;
        const both = new Float32Array(grad.length + k);
        both.set(grad);
        both.set(softmaxRow(logits, i, k), grad.length);
        return both;
      });
    } finally {
      tf.dispose(images);
    }
  }

  async probabilities(reqs: ImageRequest[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < reqs.length; i += this.microBatch) {
      const part = reqs.slice(i, i + this.microBatch);
      const images = imageTensors(part);
      let x: Float32Array;
      try {
        x = this.inputs(images, part);
      } finally {
        tf.dispose(images);
      }
      const { logits } = await this.net.run(x, part.length);
      part.forEach((_, j) => out.push(softmaxRow(logits, j, this.net.classes)));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.net.dispose();
  }
}
