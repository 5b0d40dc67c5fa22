/**
 * Builds and exports models in a one-shot thread (./export-worker) and returns their graphs, one
 * promise per model. The promises settle when the thread has ended, not as each graph arrives:
 * the thread's tfjs wasm heap (InceptionV3: over 400 MB) is only freed when it ends, and a session
 * opened before then would add its own peak to that heap's (docs/PERFORMANCE.md, sixth round).
 */
import type { BackendChoice } from '../../config';
import { ModelBuildError, type ExportedModel, type ModelExportOptions } from '../../models/onnx/export-model';
import type { ModelSpec } from '../../models/types';
import { spawnWorker } from './spawn';

export interface ExportTask {
  specs: ModelSpec[];
  backend: BackendChoice;
  /** See ModelExportOptions. */
  forwardMaxBytes?: number;
}

export type ExportResult = ({ ok: true } & ExportedModel) | { ok: false; build: boolean; message: string };

/** What the thread posts: the result for specs[index]. */
export interface ExportReply {
  index: number;
  result: ExportResult;
}

export function exportInThread(specs: ModelSpec[], backend: BackendChoice, options: ModelExportOptions = {}): Array<Promise<ExportedModel>> {
  const settlers: Array<{ resolve: (m: ExportedModel) => void; reject: (e: Error) => void }> = [];
  const promises = specs.map((_, i) => new Promise<ExportedModel>((resolve, reject) => (settlers[i] = { resolve, reject })));
  // A caller that stops at the first failure never awaits the rest: their rejections are handled here.
  for (const p of promises) p.catch(() => {});
  const results = new Map<number, ExportResult>();
  const worker = spawnWorker('export-worker', { specs, backend, forwardMaxBytes: options.forwardMaxBytes } satisfies ExportTask);
  worker.on('message', ({ index, result }: ExportReply) => results.set(index, result));
  let failure: string | undefined;
  worker.on('error', (err) => (failure = `failed: ${err.message}`));
  worker.on('exit', (code) =>
    specs.forEach((spec, i) => {
      const result = results.get(i);
      if (!result) settlers[i].reject(new Error(`model ${spec.id}: the export thread ${failure ?? `exited with code ${code}`}`));
      else if (result.ok) {
        const { ok: _ok, ...exported } = result;
        settlers[i].resolve(exported);
      } else settlers[i].reject(result.build ? new ModelBuildError(result.message) : new Error(result.message));
    }),
  );
  return promises;
}
