/**
 * `advserve worker`: takes dataset job items from the BullMQ queue in REDIS_URL and runs them on
 * the models this machine loads (configured like `advserve serve`), several at once
 * (ADVSERVE_JOB_CONCURRENCY) so that their gradient passes share batches. Results and
 * adversarial images go to Redis. SIGTERM/SIGINT: stop taking items, finish the running ones, exit.
 * Killed outright, its items come back to the queue once their locks (ADVSERVE_JOB_LOCK_MS) lapse.
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../config';
import { attackDecodeLimits } from '../engine/admission';
import { createEngine } from '../engine/bootstrap';
import { CANCEL_CHANNEL, QUEUE_NAME } from './bull-queue';
import { failItem, runItem, type ItemEnd } from './item';
import { MAX_ATTEMPTS } from './queue';
import { RedisJobStore } from './redis-store';
import type { ItemRef } from './types';

export const WORKER_USAGE = `usage: REDIS_URL=redis://host:6379 advserve worker
  Runs dataset job items (POST /v1/jobs on an API started with the same REDIS_URL) on the models
  configured as for \`advserve serve\` (ADVSERVE_MODELS, ADVSERVE_MODEL_DIRS, ...). Settings:
  ADVSERVE_JOB_CONCURRENCY (items at once, default 4), ADVSERVE_JOB_LOCK_MS (default 30000),
  ADVSERVE_JOB_TTL (seconds results are kept, default 86400).`;

const line = (stream: NodeJS.WritableStream, msg: string, obj: object = {}) => stream.write(`${JSON.stringify({ time: Date.now(), msg, ...obj })}\n`);

export async function workerCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  if (argv.length > 0 || !env.REDIS_URL) {
    process.stderr.write(`advserve worker: ${argv.length ? `unexpected argument "${argv[0]}"` : 'REDIS_URL is not set'}\n\n${WORKER_USAGE}\n`);
    return 2;
  }
  // A log line to a closed pipe (the parent that read it is gone) must not kill the worker.
  process.stdout.on('error', () => {});
  // Batch work: one single-threaded engine worker per core, as `advserve eval`.
  const config = loadConfig(env, 'throughput');
  const log = {
    info: (obj: object, msg: string) => line(process.stdout, msg, obj),
    warn: (obj: object, msg: string) => line(process.stdout, msg, { level: 'warn', ...obj }),
    error: (obj: object, msg: string) => line(process.stdout, msg, { level: 'error', ...obj }),
  };
  const engine = await createEngine(config, log);
  // Worker connections wait for Redis to come back, however long: items are retried, nothing is lost.
  const connection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const subscriber = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const storeRedis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  for (const r of [connection, subscriber, storeRedis]) r.on('error', (err) => log.warn({ err: err.message }, 'redis connection error; retrying'));
  const store = new RedisJobStore(storeRedis, config.jobTtlSeconds);
  const deps = { engine, store, decodeLimits: attackDecodeLimits(config) };

  const running = new Map<string, Set<AbortController>>();
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel: string, jobId: string) => {
    for (const c of running.get(jobId) ?? []) c.abort(new Error('job cancelled'));
  });

  const process_ = async (job: Job<ItemRef>): Promise<ItemEnd> => {
    const ref = job.data;
    if (job.attemptsStarted > 1) await store.bump('retried');
    const controller = new AbortController();
    const set = running.get(ref.job) ?? new Set();
    running.set(ref.job, set.add(controller));
    try {
      const end = await runItem(deps, ref, controller.signal);
      log.info({ item: job.id, end, attempt: job.attemptsStarted }, 'item');
      return end;
    } catch (err) {
      if (controller.signal.aborted) return 'skipped';
      log.warn({ item: job.id, err: (err as Error).message, attempt: job.attemptsStarted }, 'item failed');
      if (job.attemptsMade + 1 >= MAX_ATTEMPTS) {
        const record = await store.record(ref.job);
        if (record) await failItem(store, record, ref, `failed ${job.attemptsMade + 1} times: ${(err as Error).message}`);
        return 'failed';
      }
      throw err;
    } finally {
      set.delete(controller);
      if (set.size === 0) running.delete(ref.job);
    }
  };

  const worker = new Worker<ItemRef, ItemEnd>(QUEUE_NAME, process_, {
    connection,
    concurrency: config.jobConcurrency,
    lockDuration: config.jobLockMs,
    stalledInterval: config.jobLockMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker error'));
  // BullMQ gives up on an item by itself when it stalled more than maxStalledCount times (its
  // workers kept dying): the item fails with the reason, so that the job still finishes.
  worker.on('failed', (job, err) => {
    if (!job || (job.attemptsMade < (job.opts.attempts ?? 1) && !/stalled/i.test(err.message))) return;
    const ref = job.data;
    void (async () => {
      const record = await store.record(ref.job);
      if (record && !(await store.hasResult(ref.job, ref.image, ref.method))) await failItem(store, record, ref, `gave up: ${err.message}`);
    })().catch((e: Error) => log.warn({ item: job.id, err: e.message }, 'could not record a failed item'));
  });
  await worker.waitUntilReady();
  log.info({ pid: process.pid, concurrency: config.jobConcurrency, models: engine.listModels().map((m) => m.id), lockMs: config.jobLockMs }, 'worker ready');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info({ signal }, 'worker stopping: finishing running items');
      void (async () => {
        await worker.close();
        await subscriber.quit().catch(() => undefined);
        await store.close();
        connection.disconnect();
        await engine.dispose();
        resolve(0);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
