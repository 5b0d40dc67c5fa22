/**
 * A gradient worker: its own tfjs engine (wasm runs single-threaded, so one worker per core
 * is how an attack uses every core), its own resident copy of every model, and the same
 * batch functions the in-process runner uses, so results are byte-identical.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, wasmThreadCount } from '../../backend';
import { loadModel } from '../../models/registry';
import type { Classifier } from '../../models/types';
import { batchDirections, batchProbabilities } from '../gradients';
import type { WorkerInit, WorkerReply, WorkerTask } from './protocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const models = new Map<string, Classifier>();
const silent = { info: () => {}, warn: () => {} };

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function start(): Promise<void> {
  const started = Date.now();
  const backend = await initBackend(init.backend, { wasmThreads: init.wasmThreads });
  const fallbacks: Record<string, string[]> = {};
  for (const spec of init.specs) {
    const loaded = await loadModel(spec, silent);
    models.set(spec.id, loaded.classifier);
    fallbacks[spec.id] = loaded.fallbacks;
  }
  reply({ type: 'ready', backend, wasmThreads: wasmThreadCount(), specs: [...models.values()].map((m) => m.spec), fallbacks, loadMs: Date.now() - started });
}

port.on('message', (task: WorkerTask) => {
  try {
    const model = models.get(task.model);
    if (!model) throw new Error(`model ${task.model} is not loaded in this worker`);
    const results = task.kind === 'grad' ? batchDirections(model, task.reqs, init.microBatch) : batchProbabilities(model, task.reqs);
    reply({ type: 'result', id: task.id, results }, results.map((r) => r.buffer as ArrayBuffer));
  } catch (err) {
    reply({ type: 'error', id: task.id, message: (err as Error).message });
  }
});

start().catch((err) => reply({ type: 'init-error', message: (err as Error).stack ?? String(err) }));
