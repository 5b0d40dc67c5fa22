/** Builds a ready engine from the configuration: backend, models, and where passes run. */
import { initBackend, type BackendOptions } from '../backend';
import type { Config } from '../config';
import { networksInOnnx } from '../models/onnx/available';
import { bundledSpecs, readFolderSpec, type LoadLog } from '../models/registry';
import type { ModelSpec } from '../models/types';
import { loadStoreModels } from '../models/store/startup';
import { Engine } from './engine';
import { loadPasses } from './load-passes';
import { WorkerPool } from './pool/pool';
import { LocalRunner, type GradientRunner } from './runner';

export interface BootLog extends LoadLog {
  error(obj: object, msg: string): void;
}

export async function modelSpecs(config: Config): Promise<ModelSpec[]> {
  const specs = [...bundledSpecs(config.bundledModels)];
  for (const dir of config.modelDirs) specs.push(await readFolderSpec(dir));
  const ids = new Set<string>();
  for (const s of specs) {
    if (ids.has(s.id)) throw new Error(`two models share the id "${s.id}"`);
    ids.add(s.id);
  }
  if (specs.length === 0) throw new Error('no models configured (ADVSERVE_MODELS and ADVSERVE_MODEL_DIRS are empty; the model store is loaded after them and cannot be the only source)');
  return specs;
}

/** Loads every model, in-process (workers = 0) or in each worker of a pool. */
export async function createRunner(config: Config, backend: string, log: BootLog): Promise<GradientRunner> {
  const specs = await modelSpecs(config);
  if (config.workers > 0) {
    const pool = await WorkerPool.start(config.workers, config.backend, specs, log, {
      wasmThreads: config.wasmThreads,
      onnxWideThreads: config.onnxWideThreads,
      microBatch: config.microBatch,
      runtime: config.runtime,
      onnxProvider: config.onnxProvider,
      forwardMaxBytes: config.forwardSessionMaxBytes,
    });
    for (const s of specs) log.info({ model: s.id, backend: pool.backend, fallbacks: pool.fallbacks[s.id] }, 'model loaded and warmed up in every worker');
    return pool;
  }
  const options = {
    runtime: config.runtime,
    backend,
    threads: config.wasmThreads,
    wideThreads: config.onnxWideThreads,
    microBatch: config.microBatch,
    onnxProvider: config.onnxProvider,
    forwardMaxBytes: config.forwardSessionMaxBytes,
  };
  const local = new LocalRunner(backend, config.microBatch, (spec) => loadPasses(spec, log, options));
  for (const spec of specs) {
    const loaded = await loadPasses(spec, log, options);
    local.add(loaded.passes);
    log.info({ model: spec.id, ms: loaded.loadMs, runtime: loaded.passes.runtime, forwardSession: loaded.passes.forwardSession ?? false, fallbacks: loaded.fallbacks }, 'model loaded and warmed up');
  }
  return local;
}

/**
 * The main thread computes tfjs passes itself only without workers; with workers, or with the
 * networks in onnxruntime, its tfjs does the light preprocessing and attack arithmetic, where
 * extra XNNPACK threads would only spin against the workers' or onnxruntime's threads.
 */
export function mainThreadBackendOptions(config: Config): BackendOptions {
  const passesHere = config.workers === 0 && !networksInOnnx(config.runtime, config.backend);
  return { wasmThreads: passesHere ? config.wasmThreads : 1, boxKernels: config.boxKernels };
}

export function engineOptions(config: Config) {
  return {
    maxBatch: config.maxBatch,
    maxWaitMs: config.batchWaitMs,
    maxJobs: config.maxJobs,
    maxAttackPixels: config.maxAttackPixels,
    maxInflightPixels: config.maxInflightPixels,
  };
}

/** Backend, models (the store's last), engine: ready to use (CLI, tests). */
export async function createEngine(config: Config, log: BootLog): Promise<Engine> {
  const backend = await initBackend(config.backend, mainThreadBackendOptions(config));
  log.info({ backend }, 'tfjs backend ready');
  const engine = new Engine(await createRunner(config, backend, log), engineOptions(config), backend);
  const store = config.modelStore;
  if (store) await engine.beforeReady(async () => void (await loadStoreModels(engine, store, log)));
  return engine;
}
