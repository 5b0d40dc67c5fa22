/**
 * One resident model as the runners see it: batched direction and probability passes. Two
 * implementations: tfjs (./gradients, any backend) and onnxruntime (./onnx-passes), which
 * the runtime setting picks per process (src/engine/load-passes.ts).
 */
import type { Classifier, ModelSpec } from '../models/types';
import { batchDirections, batchProbabilities, type GradRequest } from './gradients';

export type ImageRequest = Pick<GradRequest, 'image' | 'height' | 'width'>;

export interface ModelPasses {
  readonly spec: ModelSpec;
  /** Which runtime runs the network: 'tfjs' or 'onnx'. */
  readonly runtime: 'tfjs' | 'onnx';
  /** onnxruntime's intra-op threads for the network's session (onnx only). */
  readonly threads?: number;
  /** Whether probability passes run a forward-only session (onnx only; see src/models/onnx/forward-only.ts). */
  readonly forwardSession?: boolean;
  directions(reqs: GradRequest[]): Promise<Float32Array[]>;
  probabilities(reqs: ImageRequest[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export class TfjsPasses implements ModelPasses {
  readonly runtime = 'tfjs';
  constructor(
    readonly model: Classifier,
    /** Most images in one network pass (see batchDirections). */
    private readonly microBatch = Infinity,
  ) {}

  get spec(): ModelSpec {
    return this.model.spec;
  }

  async directions(reqs: GradRequest[]): Promise<Float32Array[]> {
    return batchDirections(this.model, reqs, this.microBatch);
  }

  async probabilities(reqs: ImageRequest[]): Promise<Float32Array[]> {
    return batchProbabilities(this.model, reqs);
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

export function isModelPasses(m: Classifier | ModelPasses): m is ModelPasses {
  return 'directions' in m;
}
