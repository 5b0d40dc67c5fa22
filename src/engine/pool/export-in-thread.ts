/**
 * Builds and exports models in a one-shot thread (./export-worker) and returns their graphs, one
 * promise per model, each settled as soon as the thread has that model: the caller can open one
 * model's session while the thread still exports the next, and one thread start serves them all.
 */
import type { BackendChoice } from '../../config';
import { ModelBuildError, type ExportedModel } from '../../models/onnx/export-model';
import type { ModelSpec } from '../../models/types';
import { spawnWorker } from './spawn';

export interface ExportTask {
  specs: ModelSpec[];
  backend: BackendChoice;
}

export type ExportResult = ({ ok: true } & ExportedModel) | { ok: false; build: boolean; message: string };

/** What the thread posts: the result for specs[index]. */
export interface ExportReply {
  index: number;
  result: ExportResult;
}

export function exportInThread(specs: ModelSpec[], backend: BackendChoice): Array<Promise<ExportedModel>> {
  const settlers: Array<{ resolve: (m: ExportedModel) => void; reject: (e: Error) => void }> = [];
  const promises = specs.map((_, i) => new Promise<ExportedModel>((resolve, reject) => (settlers[i] = { resolve, reject })));
  // A caller that stops at the first failure never awaits the rest: their rejections are handled here.
  for (const p of promises) p.catch(() => {});
  const settled = new Set<number>();
  const worker = spawnWorker('export-worker', { specs, backend } satisfies ExportTask);
  worker.on('message', ({ index, result }: ExportReply) => {
    settled.add(index);
    if (result.ok) settlers[index].resolve({ bytes: result.bytes, classes: result.classes, endsInSoftmax: result.endsInSoftmax, quantization: result.quantization, forwardMacs: result.forwardMacs });
    else settlers[index].reject(result.build ? new ModelBuildError(result.message) : new Error(result.message));
  });
  const failRest = (why: string) => specs.forEach((spec, i) => settled.has(i) || settlers[i].reject(new Error(`model ${spec.id}: the export thread ${why}`)));
  worker.on('error', (err) => failRest(`failed: ${err.message}`));
  worker.on('exit', (code) => failRest(`exited with code ${code}`));
  return promises;
}
