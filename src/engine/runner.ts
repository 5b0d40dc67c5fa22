/**
 * Where batched passes run. The scheduler hands a runner one batch for one model at a time
 * and keeps at most `slots` batches in flight. LocalRunner computes on this thread (one slot);
 * the worker pool (./pool) runs one slot per worker thread, each with its own resident models.
 */
import type { Classifier, ModelSpec } from '../models/types';
import { batchDirections, batchProbabilities, type GradRequest } from './gradients';

export type ImageRequest = Pick<GradRequest, 'image' | 'height' | 'width'>;

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
  private readonly models = new Map<string, Classifier>();

  constructor(
    readonly backend: string,
    /** Most images in one network pass (see batchDirections). */
    private readonly microBatch = Infinity,
  ) {}

  add(model: Classifier): void {
    if (this.models.has(model.spec.id)) throw new Error(`two models share the id "${model.spec.id}"`);
    this.models.set(model.spec.id, model);
  }

  specs(): ModelSpec[] {
    return [...this.models.values()].map((m) => m.spec);
  }

  private model(id: string): Classifier {
    const m = this.models.get(id);
    if (!m) throw new Error(`model ${id} is not loaded in this runner`);
    return m;
  }

  // Computation is synchronous tfjs work; yielding first lets pending I/O run between batches.
  async directions(model: string, reqs: GradRequest[]): Promise<Float32Array[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return batchDirections(this.model(model), reqs, this.microBatch);
  }

  async probabilities(model: string, reqs: ImageRequest[]): Promise<Float32Array[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return batchProbabilities(this.model(model), reqs);
  }

  async dispose(): Promise<void> {
    for (const m of this.models.values()) m.dispose();
    this.models.clear();
  }
}
