/**
 * A one-shot thread: builds one model in tfjs, exports it for onnxruntime, posts the encoded
 * graph and ends. Why a thread of its own: building a model grows the tfjs wasm heap to hold its
 * weights several times over (InceptionV3: 429 MB), and a wasm heap never shrinks, so a gradient
 * worker that built its own models kept that memory for life while using a few MB of it. Same
 * backend as the worker, so the graph's bytes are the ones the worker would have made.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../../backend';
import { exportModel, ModelBuildError } from '../../models/onnx/export-model';
import type { ExportReply, ExportTask } from './export-in-thread';

const task = workerData as ExportTask;
const log = { info: () => {}, warn: (obj: object, msg: string) => console.warn(JSON.stringify({ level: 'warn', ...obj, msg })) };

async function run(): Promise<ExportReply> {
  try {
    await initBackend(task.backend, { wasmThreads: 1 });
    const m = await exportModel(task.spec, log);
    return { ok: true, ...m };
  } catch (err) {
    return { ok: false, build: err instanceof ModelBuildError, message: (err as Error).message };
  }
}

void run().then((reply) => parentPort!.postMessage(reply, reply.ok ? [reply.bytes.buffer as ArrayBuffer] : []));
