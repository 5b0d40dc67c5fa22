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

  /** The network inputs of a batch, stacked: [n, h, w, 3]. */
  private inputs(reqs: Array<ImageRequest & Pick<GradRequest, 'diverse'>>): Float32Array {
    const [h, w] = this.spec.inputSize;
    const m = h * w * 3;
    const x = new Float32Array(reqs.length * m);
    reqs.forEach((r, i) => {
      const t = tf.tidy(() => preprocessImages(this.spec, tf.tensor4d(r.image, [1, r.height, r.width, 3]), r.diverse));
      x.set(t.dataSync(), i * m);
      t.dispose();
    });
    return x;
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
    const { logits, dx } = await this.net.run(this.inputs(reqs), reqs.length, objectives);
    return reqs.map((r, i) => {
      // Back through the preprocessing: the vector-Jacobian product with the network-input gradient.
      const g = tf.tidy(() => {
        const seed = tf.tensor4d(dx!.subarray(i * m, (i + 1) * m), [1, h, w, 3]);
        return tf.grad((img) => preprocessImages(this.spec, img as tf.Tensor4D, r.diverse))(tf.tensor4d(r.image, [1, r.height, r.width, 3]), seed);
      });
      const grad = g.dataSync() as Float32Array;
      g.dispose();
      if (!r.withProbs) return grad;
      const both = new Float32Array(grad.length + k);
      both.set(grad);
      both.set(softmaxRow(logits, i, k), grad.length);
      return both;
    });
  }

  async probabilities(reqs: ImageRequest[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < reqs.length; i += this.microBatch) {
      const part = reqs.slice(i, i + this.microBatch);
      const { logits } = await this.net.run(this.inputs(part), part.length);
      part.forEach((_, j) => out.push(softmaxRow(logits, j, this.net.classes)));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.net.dispose();
  }
}
