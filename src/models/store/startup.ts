/**
 * Loads the model store at start, after the bundled models and ADVSERVE_MODEL_DIRS: every
 * `<store>/<id>/` holding an advserve.json (names starting with '.' are temporary folders). A
 * folder that does not load (bad advserve.json, a file missing, an id that is not the folder's
 * name or is taken already) is logged and skipped: one broken upload must not stop the service.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFolderSpec } from '../spec-file';
import { STORE_ID, type ModelHost } from './host';

export interface StoreLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export async function loadStoreModels(engine: ModelHost, store: string, log: StoreLog): Promise<string[]> {
  if (!existsSync(store)) {
    log.info({ store }, 'the model store does not exist yet; it is created at the first upload');
    return [];
  }
  const loaded: string[] = [];
  const entries = (await readdir(store, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  for (const name of entries) {
    const dir = join(store, name);
    if (!existsSync(join(dir, 'advserve.json'))) continue;
    try {
      if (!STORE_ID.test(name)) throw new Error(`the folder name "${name}" is not a model id`);
      const spec = await readFolderSpec(dir);
      if (spec.id !== name) throw new Error(`its advserve.json gives the id "${spec.id}"; a store folder must be named after its model`);
      if (engine.modelSpec(spec.id)) throw new Error(`a model with the id "${spec.id}" is loaded already (bundled or ADVSERVE_MODEL_DIRS)`);
      const started = Date.now();
      const staged = await engine.stageModel(spec);
      engine.serveModel(staged);
      loaded.push(spec.id);
      log.info({ model: spec.id, ms: Date.now() - started, fallbacks: staged.fallbacks, store }, 'store model loaded and warmed up');
    } catch (err) {
      log.error({ folder: dir, err: (err as Error).message }, 'store model skipped: it does not load');
    }
  }
  return loaded;
}
