/**
 * The job service the API runs: embedded (no REDIS_URL: jobs on local disk, items run in this
 * process on its engine) or scale-out (REDIS_URL: jobs in Redis, items on a BullMQ queue for
 * `advserve worker` processes; this process keeps no job state).
 */
import { Redis } from 'ioredis';
import type { Config } from '../config';
import { attackDecodeLimits } from '../engine/admission';
import type { AttackEngine } from '../engine/types';
import { BullItemQueue } from './bull-queue';
import { DiskJobStore } from './disk-store';
import { LocalItemQueue, type LocalQueueLog } from './local-queue';
import { RedisJobStore } from './redis-store';
import { JobService } from './service';

/** How often the embedded mode looks for jobs past their TTL. */
const SWEEP_MS = 60_000;

/**
 * The API's connection: a command fails (503) after one reconnection attempt instead of waiting
 * for Redis to come back; the connection itself keeps reconnecting.
 */
export function apiRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
  redis.on('error', () => {}); // reported by the calls that fail
  return redis;
}

export interface EmbeddedJobs {
  service: JobService;
  /** Queues the unfinished items of jobs left on disk by an earlier run. */
  resume(): Promise<number>;
}

export function createJobService(config: Config, engine: AttackEngine, log: LocalQueueLog): EmbeddedJobs {
  const opts = { maxQueuedPerKey: config.jobMaxQueued };
  if (config.redisUrl) {
    const redis = apiRedis(config.redisUrl);
    return { service: new JobService(new RedisJobStore(redis, config.jobTtlSeconds), new BullItemQueue(redis), { ...opts, remote: true }), resume: async () => 0 };
  }
  const store = new DiskJobStore(config.jobDir, config.jobTtlSeconds * 1000);
  const queue = new LocalItemQueue({ engine, store, decodeLimits: attackDecodeLimits(config) }, config.jobConcurrency, log);
  const sweeper = setInterval(() => void store.sweep().catch((err) => log.warn({ err }, 'sweeping old jobs failed')), Math.min(SWEEP_MS, config.jobTtlSeconds * 1000));
  sweeper.unref();
  const service = new JobService(store, queue, { ...opts, remote: false });
  const close = service.close.bind(service);
  service.close = async () => {
    clearInterval(sweeper);
    await close();
  };
  return { service, resume: () => queue.resume() };
}
