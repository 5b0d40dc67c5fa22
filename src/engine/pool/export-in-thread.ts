/** Builds and exports a model in a one-shot thread (./export-worker) and returns its graph. */
import type { BackendChoice } from '../../config';
import { ModelBuildError, type ExportedModel } from '../../models/onnx/export-model';
import type { ModelSpec } from '../../models/types';
import { spawnWorker } from './spawn';

export interface ExportTask {
  spec: ModelSpec;
  backend: BackendChoice;
}

export type ExportReply = ({ ok: true } & ExportedModel) | { ok: false; build: boolean; message: string };

export function exportInThread(spec: ModelSpec, backend: BackendChoice): Promise<ExportedModel> {
  return new Promise((resolve, reject) => {
    const worker = spawnWorker('export-worker', { spec, backend } satisfies ExportTask);
    let replied = false;
    worker.once('message', (reply: ExportReply) => {
      replied = true;
      void worker.terminate();
      if (reply.ok) resolve({ bytes: reply.bytes, classes: reply.classes, endsInSoftmax: reply.endsInSoftmax, quantization: reply.quantization });
      else reject(reply.build ? new ModelBuildError(reply.message) : new Error(reply.message));
    });
    worker.once('error', (err) => {
      if (!replied) reject(err);
    });
    worker.once('exit', (code) => {
      if (!replied) reject(new Error(`model export thread for ${spec.id} exited with code ${code}`));
    });
  });
}
