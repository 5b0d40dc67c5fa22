/**
 * Starts the service: backend, HTTP listener (so /healthz answers at once and /readyz says
 * 503 while models load), then the models. SIGTERM/SIGINT drain (src/http/drain.ts): new
 * requests get 503, in-flight ones may finish for ADVSERVE_SHUTDOWN_GRACE_MS, then the rest
 * are answered 503, the models are freed and the process exits 0. A second signal exits at once.
 */
import { buildApp } from './app';
import { initBackend } from './backend';
import { ConfigError, loadConfig, type Config } from './config';
import { createRunner, engineOptions, mainThreadBackendOptions } from './engine/bootstrap';
import { Engine } from './engine/engine';
import { shuttingDown } from './errors';
import { Drain } from './http/drain';
import { readFolderSpec } from './models/spec-file';
import { loadStoreModels } from './models/store/startup';

/** After cutting in-flight work, how long its requests get to answer 503 before they are answered from outside. */
const CUT_ANSWER_MS = 5_000;
/** How long connections get to close by themselves once every request is answered. */
const CLOSE_WAIT_MS = 2_000;

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
  const drain = new Drain();
  const app = await buildApp({ engine, config, logger: { level: config.logLevel }, drain, resumeJobs: true });
  app.log.info({ backend }, 'tfjs backend ready');

  // Settles when model loading has ended, either way (a shutdown waits for it: see drainAndExit).
  let loading: Promise<unknown> = Promise.resolve();
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) {
      app.log.warn({ signal }, 'second signal: exiting now, without answering in-flight requests');
      process.exit(1);
    }
    closing = true;
    drainAndExit(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  const drainAndExit = async (signal: string) => {
    drain.begin();
    app.log.info({ signal, graceMs: config.shutdownGraceMs, inFlight: drain.pending }, 'shutting down: new requests get 503, in-flight ones may finish');
    const closed = app.close(); // stops accepting; settles once every connection has ended
    if (!(await drain.idle(config.shutdownGraceMs))) {
      const reason = shuttingDown('The service shut down before the request finished; send it again.');
      const cut = drain.cut(reason);
      app.log.warn({ cut }, `grace period over: answering ${cut.length} in-flight request(s) with 503`);
      // Queued passes fail at once; running ones end before their models are freed.
      const disposed = engine.dispose(reason);
      if (!(await drain.idle(CUT_ANSWER_MS))) app.log.warn({ requests: drain.answerRemaining() }, 'answered requests that did not stop in time');
      await disposed;
    }
    // Every answer given during the drain closes its connection; one that lingers (a client
    // still sending) is closed after a moment.
    const lingering = setTimeout(() => app.server.closeAllConnections(), CLOSE_WAIT_MS);
    await closed;
    clearTimeout(lingering);
    await loading;
    await engine.dispose();
    app.log.info('shut down');
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
  const store = config.modelStore;
  const loaded = createRunner(config, backend, app.log).then((runner) =>
    engine.beforeReady(async () => {
      engine.attach(runner);
      if (store) await loadStoreModels(engine, store, app.log);
    }),
  );
  loading = loaded.catch(() => undefined);
  try {
    await loaded;
  } catch (err) {
    app.log.fatal({ err }, 'model loading failed');
    process.exit(1);
  }
  app.log.info(
    { ms: Date.now() - started, models: engine.listModels().map((m) => m.id), workers: config.workers, wasmThreads: config.wasmThreads, mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null },
    'ready',
  );
}
