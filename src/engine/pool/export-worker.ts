/**
 * A one-shot thread: builds the given models in tfjs, one after another, exports each for
 * onnxruntime, posts each encoded graph as soon as it is ready, and ends. Why a thread of its
 * own: building a model grows the tfjs wasm heap to hold its weights several times over
 * (InceptionV3: 429 MB), and a wasm heap never shrinks, so a gradient worker that built its own
 * models kept that memory for life while using a few MB of it. Same backend as the worker, so
 * the graphs' bytes are the ones the worker would have made.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../../backend';
import { exportModel, ModelBuildError } from '../../models/onnx/export-model';
import type { ExportReply, ExportResult, ExportTask } from './export-in-thread';

const task = workerData as ExportTask;
const log = { info: () => {}, warn: (obj: object, msg: string) => console.warn(JSON.stringify({ level: 'warn', ...obj, msg })) };

async function exportOne(index: number): Promise<ExportResult> {
  try {
    return { ok: true, ...(await exportModel(task.specs[index], log, { forwardMaxBytes: task.forwardMaxBytes })) };
  } catch (err) {
    return { ok: false, build: err instanceof ModelBuildError, message: (err as Error).message };
  }
}

async function run(): Promise<void> {
  await initBackend(task.backend, { wasmThreads: 1, boxKernels: false });
  for (let index = 0; index < task.specs.length; index++) {
    const result = await exportOne(index);
    // Small graphs are views into one pooled buffer: each buffer is listed once.
    const buffers = result.ok ? new Set([result.bytes, ...(result.forward ? [result.forward.bytes] : [])].map((b) => b.buffer as ArrayBuffer)) : [];
    parentPort!.postMessage({ index, result } satisfies ExportReply, [...buffers]);
  }
}

void run();
