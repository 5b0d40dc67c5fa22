/** Builds a ready engine from the configuration: backend, bundled models, model folders. */
import { initBackend } from '../backend';
import type { Config } from '../config';
import { bundledSpecs, loadModel, readFolderSpec, type LoadLog } from '../models/registry';
import { Engine } from './engine';

export async function createEngine(config: Config, log: LoadLog): Promise<Engine> {
  const backend = await initBackend(config.backend);
  log.info({ backend }, 'tfjs backend ready');
  const engine = new Engine(backend);
  await loadModels(engine, config, log);
  return engine;
}

/** Loads every configured model into the engine, then marks it ready. */
export async function loadModels(engine: Engine, config: Config, log: LoadLog): Promise<void> {
  const specs = [...bundledSpecs(config.bundledModels)];
  for (const dir of config.modelDirs) specs.push(await readFolderSpec(dir));
  for (const spec of specs) {
    const loaded = await loadModel(spec, log);
    engine.add(loaded);
    log.info({ model: spec.id, ms: loaded.loadMs, fallbacks: loaded.fallbacks }, 'model loaded and warmed up');
  }
  engine.markReady();
}
