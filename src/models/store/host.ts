/** What the model store needs from the engine: the served models, and adding and removing one. */
import type { Engine } from '../../engine/engine';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { ModelSpec } from '../types';

export type ModelHost = Pick<Engine, 'modelSpec' | 'stageModel' | 'discardStaged' | 'serveModel' | 'removeModel' | 'listModels'>;

export function isModelHost(engine: object): engine is ModelHost {
  return typeof (engine as Partial<ModelHost>).stageModel === 'function' && typeof (engine as Partial<ModelHost>).removeModel === 'function';
}

/**
 * Ids that can be a folder of the store: an id (letters, digits, `_`, `.`, `-`) that does not
 * start with '.', so that neither `.`/`..` nor the store's own temporary folders can be named.
 */
export const STORE_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** `<store>/<id>`, for an id matching STORE_ID. */
export function storeFolder(store: string, id: string): string {
  if (!STORE_ID.test(id)) throw new Error(`"${id}" cannot name a folder of the model store`);
  const dir = join(resolve(store), id);
  const rel = relative(resolve(store), dir);
  if (rel !== id || isAbsolute(rel)) throw new Error(`"${id}" escapes the model store`);
  return dir;
}

/** Whether a served model is one of the store's (`<store>/<id>/`): only those can be replaced or removed over HTTP. */
export function isStoreModel(store: string | undefined, spec: ModelSpec): boolean {
  if (!store || spec.source.kind !== 'folder' || !STORE_ID.test(spec.id)) return false;
  return resolve(spec.source.path) === storeFolder(store, spec.id);
}
