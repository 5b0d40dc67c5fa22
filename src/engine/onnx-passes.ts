/**
 * Direction and probability passes with the network in onnxruntime (src/models/onnx/net.ts)
 * and the preprocessing (resize, input range, diverse-inputs draw) as plain loops
 * (src/models/pixel-pipeline.ts): the pipeline maps each image to the network input,
 * onnxruntime returns the objective's gradient there, and the pipeline's adjoint carries it back
 * to the user's pixels. Each image's result depends on that image alone, as in ./gradients.
 */
import { PixelPipeline } from '../models/pixel-pipeline';
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

  get threads(): number {
    return this.net.threads;
  }

  get forwardSession(): boolean {
    return this.net.hasForwardSession;
  }

  /** The network inputs of a batch, [n, h, w, 3], with each image's pipeline for the way back. */
  private inputs(reqs: Array<ImageRequest & Pick<GradRequest, 'diverse'>>): { x: Float32Array; pipelines: PixelPipeline[] } {
    const [h, w] = this.spec.inputSize;
    const m = h * w * 3;
    const x = new Float32Array(reqs.length * m);
    const pipelines = reqs.map((r, i) => {
      const pipeline = new PixelPipeline(this.spec, r.height, r.width, r.diverse);
      pipeline.forward(r.image, x, i * m);
      return pipeline;
    });
    return { x, pipelines };
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
    const { x, pipelines } = this.inputs(reqs);
    const { logits, dx } = await this.net.run(x, reqs.length, objectives);
    return reqs.map((r, i) => {
      // withProbs: the probabilities follow the gradient in the same array.
      const size = r.height * r.width * 3 + (r.withProbs ? k : 0);
      if (r.out && r.out.length !== size) throw new RangeError(`a result buffer of ${r.out.length} values for a result of ${size}`);
      const result = pipelines[i].back(dx!.subarray(i * m, (i + 1) * m), r.out ?? new Float32Array(size));
      if (r.withProbs) result.set(softmaxRow(logits, i, k), size - k);
      return result;
    });
  }

  async probabilities(reqs: ImageRequest[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < reqs.length; i += this.microBatch) {
      const part = reqs.slice(i, i + this.microBatch);
      const { x } = this.inputs(part);
      const { logits } = await this.net.run(x, part.length);
      part.forEach((_, j) => out.push(softmaxRow(logits, j, this.net.classes)));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.net.dispose();
  }
}
