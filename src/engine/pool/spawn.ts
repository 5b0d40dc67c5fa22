/** Starts one of this folder's worker scripts, compiled or (under tsx or tap) TypeScript. */
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * `name`: the script's base name ('worker', 'export-worker'). Under tsx or tap this file is
 * TypeScript, and the worker starts from `<name>-entry.js`, which loads the TypeScript through tsx.
 */
export function spawnWorker(name: string, workerData: unknown): Worker {
  const ts = extname(__filename) === '.ts';
  return new Worker(join(__dirname, ts ? `${name}-entry.js` : `${name}.js`), { workerData });
}
