/**
 * A gradient worker: its own tfjs engine (for preprocessing, and for the networks where they
 * run in tfjs), its own resident copy of every model (in onnxruntime or tfjs, as loadPasses
 * decides), and the same ModelPasses the in-process runner uses, so results are byte-identical.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, wasmThreadCount } from '../../backend';
import { networksInOnnx } from '../../models/onnx/available';
import type { BackendChoice } from '../../config';
import { loadPasses, type PassOptions } from '../load-passes';
import type { ExportedModel } from '../../models/onnx/export-model';
import { exportInThread } from './export-in-thread';
import type { ModelSpec } from '../../models/types';
import type { ModelPasses } from '../passes';
import type { WorkerInit, WorkerReply, WorkerTask } from './protocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const models = new Map<string, ModelPasses>();
/** The tfjs backend this worker started (set before any task runs). */
let backendName = 'unknown';
// Warnings (a model falling back from onnxruntime to tfjs) still reach the service's log via stderr.
const silent = { info: () => {}, warn: (obj: object, msg: string) => console.warn(JSON.stringify({ level: 'warn', ...obj, msg })) };

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function start(): Promise<void> {
  const started = Date.now();
  // With the networks in onnxruntime, tfjs only preprocesses: XNNPACK threads would spin against onnxruntime's.
  const tfjsThreads = networksInOnnx(init.runtime, init.backend) ? 1 : init.wasmThreads;
  const backend = await initBackend(init.backend, { wasmThreads: tfjsThreads, boxKernels: false });
  backendName = backend;
  const fallbacks: Record<string, string[]> = {};
  const options = passOptions(backend, init.specs);
  for (const spec of init.specs) {
    const loaded = await loadPasses(spec, silent, options);
    models.set(spec.id, loaded.passes);
    fallbacks[spec.id] = loaded.fallbacks;
  }
  const all = [...models.values()];
  for (const { key, spec } of init.added ?? []) models.set(key, (await loadPasses(spec, silent, options)).passes);
  // The threads that run this worker's networks: onnxruntime's where every model runs there, else XNNPACK's.
  const threads = all.length > 0 && all.every((m) => m.runtime === 'onnx') ? init.wasmThreads : wasmThreadCount();
  const sessionThreads = Object.fromEntries(all.flatMap((m) => (m.threads === undefined ? [] : [[m.spec.id, m.threads]])));
  const forwardSessions = all.filter((m) => m.forwardSession).map((m) => m.spec.id);
  reply({ type: 'ready', backend, wasmThreads: threads, sessionThreads, forwardSessions, specs: all.map((m) => m.spec), runtimes: all.map((m) => m.runtime), fallbacks, loadMs: Date.now() - started });
}

/**
 * How this worker loads models. Models for onnxruntime are built and exported in a thread of
 * their own (see ./export-worker): the models the worker starts with in one thread, started on
 * the first export asked for; a model loaded later in one of its own.
 */
function passOptions(backend: string, startSpecs: ModelSpec[] = []): PassOptions {
  let atStart: Map<ModelSpec, Promise<ExportedModel>> | undefined;
  const exporter = (spec: ModelSpec): Promise<ExportedModel> => {
    const options = { forwardMaxBytes: init.forwardMaxBytes };
    if (!atStart && startSpecs.includes(spec)) atStart = new Map(exportInThread(startSpecs, backend as BackendChoice, options).map((p, i) => [startSpecs[i], p]));
    return atStart?.get(spec) ?? exportInThread([spec], backend as BackendChoice, options)[0];
  };
  // A worker started with one model and none added serves that model alone (sessionThreads).
  const soleModel = startSpecs.length === 1 && !init.added?.length;
  return { runtime: init.runtime, backend, threads: init.wasmThreads, wideThreads: init.onnxWideThreads, soleModel, microBatch: init.microBatch, onnxProvider: init.onnxProvider, exporter };
}

// Loads a model at run time with the options the worker started with.
async function load(key: string, spec: ModelSpec): Promise<string[]> {
  if (models.has(key)) throw new Error(`a model is loaded under "${key}" already`);
  const loaded = await loadPasses(spec, silent, passOptions(backendName));
  models.set(key, loaded.passes);
  return loaded.fallbacks;
}

// One task at a time, in arrival order, as when every pass was synchronous: onnxruntime passes
// are async, and two at once would only fight over the same cores.
let queue: Promise<void> = Promise.resolve();
port.on('message', (task: WorkerTask) => {
  queue = queue.then(() => runTask(task));
});

async function runTask(task: WorkerTask): Promise<void> {
  try {
    if (task.kind === 'load') return reply({ type: 'loaded', id: task.id, fallbacks: await load(task.key, task.spec) });
    if (task.kind === 'unload') {
      const m = models.get(task.key);
      models.delete(task.key);
      await m?.dispose();
      return reply({ type: 'result', id: task.id, results: [] });
    }
    const model = models.get(task.model);
    if (!model) throw new Error(`model ${task.model} is not loaded in this worker`);
    const results = await (task.kind === 'grad' ? model.directions(task.reqs) : model.probabilities(task.reqs));
    // Results in the caller's shared buffers (GradRequest.out) cross without a copy; the others are moved.
    const owned = results.map((r) => r.buffer).filter((b): b is ArrayBuffer => !(b instanceof SharedArrayBuffer));
    reply({ type: 'result', id: task.id, results }, owned);
  } catch (err) {
    reply({ type: 'error', id: task.id, message: (err as Error).message });
  }
}

start().catch((err) => reply({ type: 'init-error', message: (err as Error).stack ?? String(err) }));
