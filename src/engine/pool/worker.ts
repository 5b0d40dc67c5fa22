/**
 * A gradient worker: its own tfjs engine (for preprocessing, and for the networks where they
 * run in tfjs), its own resident copy of every model (in onnxruntime or tfjs, as loadPasses
 * decides), and the same ModelPasses the in-process runner uses, so results are byte-identical.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, wasmThreadCount } from '../../backend';
import { loadPasses } from '../load-passes';
import type { ModelPasses } from '../passes';
import type { WorkerInit, WorkerReply, WorkerTask } from './protocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const models = new Map<string, ModelPasses>();
// Warnings (a model falling back from onnxruntime to tfjs) still reach the service's log via stderr.
const silent = { info: () => {}, warn: (obj: object, msg: string) => console.warn(JSON.stringify({ level: 'warn', ...obj, msg })) };

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function start(): Promise<void> {
  const started = Date.now();
  const backend = await initBackend(init.backend, { wasmThreads: init.wasmThreads });
  const fallbacks: Record<string, string[]> = {};
  const options = { runtime: init.runtime, backend, threads: init.wasmThreads, microBatch: init.microBatch };
  for (const spec of init.specs) {
    const loaded = await loadPasses(spec, silent, options);
    models.set(spec.id, loaded.passes);
    fallbacks[spec.id] = loaded.fallbacks;
  }
  const all = [...models.values()];
  reply({ type: 'ready', backend, wasmThreads: wasmThreadCount(), specs: all.map((m) => m.spec), runtimes: all.map((m) => m.runtime), fallbacks, loadMs: Date.now() - started });
}

// One task at a time, in arrival order, as when every pass was synchronous: onnxruntime passes
// are async, and two at once would only fight over the same cores.
let queue: Promise<void> = Promise.resolve();
port.on('message', (task: WorkerTask) => {
  queue = queue.then(() => runTask(task));
});

async function runTask(task: WorkerTask): Promise<void> {
  try {
    const model = models.get(task.model);
    if (!model) throw new Error(`model ${task.model} is not loaded in this worker`);
    const results = await (task.kind === 'grad' ? model.directions(task.reqs) : model.probabilities(task.reqs));
    reply({ type: 'result', id: task.id, results }, results.map((r) => r.buffer as ArrayBuffer));
  } catch (err) {
    reply({ type: 'error', id: task.id, message: (err as Error).message });
  }
}

start().catch((err) => reply({ type: 'init-error', message: (err as Error).stack ?? String(err) }));
