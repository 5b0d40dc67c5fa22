/**
 * Where batched passes run. The scheduler hands a runner one batch for one model at a time
 * and keeps at most `slots` batches in flight. LocalRunner computes on this thread (one slot);
 * the worker pool (./pool) runs one slot per worker thread, each with its own resident models.
 */
import type { Classifier, ModelSpec } from '../models/types';
import type { GradRequest } from './gradients';
import { isModelPasses, TfjsPasses, type ImageRequest, type ModelPasses } from './passes';

export type { ImageRequest };

/** What runs the networks, for /v1/models: the tfjs backend, 'onnxruntime', or both ('wasm+onnxruntime'). */
export function backendLabel(tfjsBackend: string, runtimes: Array<'tfjs' | 'onnx'>): string {
  const onnx = runtimes.filter((r) => r === 'onnx').length;
  if (onnx === 0) return tfjsBackend;
  return onnx === runtimes.length ? 'onnxruntime' : `${tfjsBackend}+onnxruntime`;
}

export interface GradientRunner {
  /** How many batches may run at once. */
  readonly slots: number;
  readonly backend: string;
  specs(): ModelSpec[];
  directions(model: string, reqs: GradRequest[]): Promise<Float32Array[]>;
  probabilities(model: string, reqs: ImageRequest[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export class LocalRunner implements GradientRunner {
  readonly slots = 1;
  private readonly models = new Map<string, ModelPasses>();

  constructor(
    private readonly tfjsBackend: string,
    /** Most images in one network pass (see batchDirections). */
    private readonly microBatch = Infinity,
  ) {}

  get backend(): string {
    return backendLabel(this.tfjsBackend, [...this.models.values()].map((m) => m.runtime));
  }

  /** A loaded model: a tfjs classifier, or passes from loadPasses (either runtime). */
  add(model: Classifier | ModelPasses): void {
    if (this.models.has(model.spec.id)) throw new Error(`two models share the id "${model.spec.id}"`);
    this.models.set(model.spec.id, isModelPasses(model) ? model : new TfjsPasses(model, this.microBatch));
  }

  specs(): ModelSpec[] {
    return [...this.models.values()].map((m) => m.spec);
  }

  private model(id: string): ModelPasses {
    const m = this.models.get(id);
    if (!m) throw new Error(`model ${id} is not loaded in this runner`);
    return m;
  }

  // tfjs passes are synchronous work; yielding first lets pending I/O run between batches.
  async directions(model: string, reqs: GradRequest[]): Promise<Float32Array[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.model(model).directions(reqs);
  }

  async probabilities(model: string, reqs: ImageRequest[]): Promise<Float32Array[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.model(model).probabilities(reqs);
  }

  async dispose(): Promise<void> {
    const models = [...this.models.values()];
    this.models.clear();
    await Promise.all(models.map((m) => m.dispose()));
  }
}
