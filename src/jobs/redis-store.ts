/**
 * The scale-out job store, in Redis, so that any API replica and any worker sees every job:
 *
 *   advserve:job:<id>          the JobRecord (JSON)
 *   advserve:job:<id>:state    hash: startedAt, finishedAt, cancelledAt
 *   advserve:job:<id>:input    hash: image number -> uploaded bytes
 *   advserve:job:<id>:results  hash: "<image>.<method>" -> ItemResult (JSON)
 *   advserve:job:<id>:adv      hash: "<image>.<method>" -> adversarial PNG
 *   advserve:owner:<name>      set of the owner's job ids
 *   advserve:stats             hash: done, failed, retried (item counters for /metrics)
 *
 * Every key of a job expires ADVSERVE_JOB_TTL seconds after the job's last write (submission,
 * an item's start or result, cancellation).
 */
import type { Redis } from 'ioredis';
import type { JobStore, StatName } from './store';
import { itemKey, type ItemResult, type JobRecord, type JobState } from './types';

const P = 'advserve:';
const jobKey = (id: string, part?: string) => `${P}job:${id}${part ? `:${part}` : ''}`;
const PARTS = [undefined, 'state', 'input', 'results', 'adv'];
const ownerKey = (owner: string) => `${P}owner:${owner}`;
const STATS = `${P}stats`;

export class RedisJobStore implements JobStore {
  constructor(readonly redis: Redis, private readonly ttlSeconds: number) {}

  /** Pushes back the expiry of every key of the job. */
  private async touch(id: string): Promise<void> {
    const m = this.redis.multi();
    for (const part of PARTS) m.expire(jobKey(id, part), this.ttlSeconds);
    await m.exec();
  }

  async create(job: JobRecord, inputs: Buffer[]): Promise<void> {
    const m = this.redis.multi();
    if (inputs.length) m.hset(jobKey(job.id, 'input'), ...inputs.flatMap((data, n) => [String(n), data]));
    m.hset(jobKey(job.id, 'state'), 'createdAt', job.createdAt);
    m.set(jobKey(job.id), JSON.stringify(job));
    m.sadd(ownerKey(job.owner), job.id);
    m.expire(ownerKey(job.owner), this.ttlSeconds);
    for (const part of PARTS) m.expire(jobKey(job.id, part), this.ttlSeconds);
    const out = await m.exec();
    const failed = out?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async record(id: string): Promise<JobRecord | undefined> {
    const text = await this.redis.get(jobKey(id));
    return text ? (JSON.parse(text) as JobRecord) : undefined;
  }

  async state(id: string): Promise<JobState> {
    const { startedAt, finishedAt, cancelledAt } = await this.redis.hgetall(jobKey(id, 'state'));
    return { ...(startedAt ? { startedAt } : {}), ...(finishedAt ? { finishedAt } : {}), ...(cancelledAt ? { cancelledAt } : {}) };
  }

  async input(id: string, image: number): Promise<Buffer | undefined> {
    return (await this.redis.hgetBuffer(jobKey(id, 'input'), String(image))) ?? undefined;
  }

  async started(id: string): Promise<void> {
    await this.redis.hsetnx(jobKey(id, 'state'), 'startedAt', new Date().toISOString());
    await this.touch(id);
  }

  async putResult(id: string, result: ItemResult, png: Buffer | undefined, total: number): Promise<void> {
    const field = itemKey(result.image, result.method);
    if (png) await this.redis.hset(jobKey(id, 'adv'), field, png);
    await this.redis.hsetnx(jobKey(id, 'results'), field, JSON.stringify(result));
    if ((await this.redis.hlen(jobKey(id, 'results'))) >= total) await this.redis.hsetnx(jobKey(id, 'state'), 'finishedAt', result.finishedAt);
    await this.touch(id);
  }

  async results(id: string): Promise<ItemResult[]> {
    return Object.values(await this.redis.hgetall(jobKey(id, 'results'))).map((text) => JSON.parse(text) as ItemResult);
  }

  resultCount(id: string): Promise<number> {
    return this.redis.hlen(jobKey(id, 'results'));
  }

  async hasResult(id: string, image: number, method: number): Promise<boolean> {
    return (await this.redis.hexists(jobKey(id, 'results'), itemKey(image, method))) === 1;
  }

  async adversarial(id: string, image: number, method: number): Promise<Buffer | undefined> {
    return (await this.redis.hgetBuffer(jobKey(id, 'adv'), itemKey(image, method))) ?? undefined;
  }

  async cancel(id: string): Promise<void> {
    await this.redis.multi().hset(jobKey(id, 'state'), 'cancelledAt', new Date().toISOString()).del(jobKey(id, 'input'), jobKey(id, 'results'), jobKey(id, 'adv')).exec();
    await this.touch(id);
  }

  async remove(id: string): Promise<void> {
    const record = await this.record(id);
    await this.redis.del(...PARTS.map((p) => jobKey(id, p)));
    if (record) await this.redis.srem(ownerKey(record.owner), id);
  }

  async ownerJobs(owner: string): Promise<string[]> {
    const ids = await this.redis.smembers(ownerKey(owner));
    if (ids.length === 0) return [];
    const exists = await Promise.all(ids.map((id) => this.redis.exists(jobKey(id))));
    const gone = ids.filter((_, i) => !exists[i]);
    if (gone.length) await this.redis.srem(ownerKey(owner), ...gone);
    return ids.filter((_, i) => exists[i]);
  }

  async bump(stat: StatName): Promise<void> {
    await this.redis.hincrby(STATS, stat, 1);
  }

  async stats(): Promise<Record<StatName, number>> {
    const raw = await this.redis.hgetall(STATS);
    return { done: Number(raw.done ?? 0), failed: Number(raw.failed ?? 0), retried: Number(raw.retried ?? 0) };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
