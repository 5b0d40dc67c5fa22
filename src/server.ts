/**
 * Starts the service: backend, HTTP listener (so /healthz answers at once and /readyz says
 * 503 while models load), then the models. SIGTERM/SIGINT stop accepting work and let
 * in-flight attacks finish, for at most ADVSERVE_SHUTDOWN_GRACE_MS.
 */
import { buildApp } from './app';
import { initBackend } from './backend';
import { ConfigError, loadConfig, type Config } from './config';
import { createRunner, engineOptions, mainThreadBackendOptions } from './engine/bootstrap';
import { Engine } from './engine/engine';
import { readFolderSpec } from './models/spec-file';
import { loadStoreModels } from './models/store/startup';

export async function startServer(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`advserve: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Model folders: their advserve.json files are read now, so that a bad folder stops the
  // start before the port is taken (the networks themselves load after listening).
  for (const dir of config.modelDirs) {
    try {
      await readFolderSpec(dir);
    } catch (err) {
      process.stderr.write(`advserve: configuration error: ADVSERVE_MODEL_DIRS: ${(err as Error).message}\n`);
      process.exit(2);
    }
  }
  let backend: string;
  try {
    backend = await initBackend(config.backend, mainThreadBackendOptions(config));
  } catch (err) {
    process.stderr.write(`advserve: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const engine = new Engine(undefined, engineOptions(config), backend);
  const app = await buildApp({ engine, config, logger: { level: config.logLevel } });
  app.log.info({ backend }, 'tfjs backend ready');

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => {
      app.log.warn('grace period over, exiting with requests still in flight');
      process.exit(1);
    }, config.shutdownGraceMs);
    timer.unref();
    app.close().then(
      () => {
        engine.dispose().finally(() => process.exit(0));
      },
      (err: unknown) => {
        app.log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'the address is already in use' : e.code === 'EACCES' ? 'permission denied' : e.message;
    process.stderr.write(`advserve: cannot listen on ${config.host}:${config.port}: ${why}\n`);
    process.exit(1);
  }
  const started = Date.now();
  try {
    const runner = await createRunner(config, backend, app.log);
    const store = config.modelStore;
    await engine.beforeReady(async () => {
      engine.attach(runner);
      if (store) await loadStoreModels(engine, store, app.log);
    });
  } catch (err) {
    app.log.fatal({ err }, 'model loading failed');
    process.exit(1);
  }
  app.log.info(
    { ms: Date.now() - started, models: engine.listModels().map((m) => m.id), workers: config.workers, wasmThreads: config.wasmThreads },
    'ready',
  );
}
