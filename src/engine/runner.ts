/**
 * Where batched passes run. The scheduler hands a runner one batch for one model at a time
 * and keeps at most `slots` batches in flight. LocalRunner computes on this thread (one slot);
 * the worker pool (./pool) runs one slot per worker thread, each with its own resident models.
 */
import type { Classifier, ModelSpec } from '../models/types';
import type { GradRequest } from './gradients';
import type { LoadedPasses } from './load-passes';
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
  /** The models loaded at start (each under its own id). */
  specs(): ModelSpec[];
  /**
   * Loads, compiles and warms up one more model under `key` (in every worker), beside the ones
   * serving; on any failure the runner is left as it was. Models uploaded at run time
   * (src/models/store) come this way; the key differs from the id so that a replacement can be
   * loaded while the model it replaces still serves.
   */
  load?(key: string, spec: ModelSpec): Promise<{ fallbacks: string[] }>;
  /** The model under `key` now reads its files from `spec.source` (a worker started later loads it from there). */
  moved?(key: string, spec: ModelSpec): void;
  /** Frees the model under `key` (its batches must be finished). */
  unload?(key: string): Promise<void>;
  directions(model: string, reqs: GradRequest[]): Promise<Float32Array[]>;
  probabilities(model: string, reqs: ImageRequest[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export class LocalRunner implements GradientRunner {
  readonly slots = 1;
  private readonly models = new Map<string, ModelPasses>();
  private readonly initial: ModelSpec[] = [];

  constructor(
    private readonly tfjsBackend: string,
    /** Most images in one network pass (see batchDirections). */
    private readonly microBatch = Infinity,
    /** How `load` builds a model's passes (loadPasses with this runner's options); without it, `load` fails. */
    private readonly loader?: (spec: ModelSpec) => Promise<LoadedPasses>,
  ) {}

  get backend(): string {
    return backendLabel(this.tfjsBackend, [...this.models.values()].map((m) => m.runtime));
  }

  /** A loaded model: a tfjs classifier, or passes from loadPasses (either runtime). */
  add(model: Classifier | ModelPasses): void {
    if (this.models.has(model.spec.id)) throw new Error(`two models share the id "${model.spec.id}"`);
    this.models.set(model.spec.id, isModelPasses(model) ? model : new TfjsPasses(model, this.microBatch));
    this.initial.push(model.spec);
  }

  specs(): ModelSpec[] {
    return [...this.initial];
  }

  async load(key: string, spec: ModelSpec): Promise<{ fallbacks: string[] }> {
    if (!this.loader) throw new Error('this runner cannot load models at run time');
    if (this.models.has(key)) throw new Error(`a model is loaded under "${key}" already`);
    const loaded = await this.loader(spec);
    this.models.set(key, loaded.passes);
    return { fallbacks: loaded.fallbacks };
  }

  async unload(key: string): Promise<void> {
    const m = this.models.get(key);
    this.models.delete(key);
    await m?.dispose();
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
