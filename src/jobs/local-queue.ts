/**
 * The embedded mode's queue: items run in this process, a few at once (ADVSERVE_JOB_CONCURRENCY),
 * on the service's own engine, so their gradient passes share batches with each other and with
 * the HTTP attacks. Items wait while the models load or the engine is full (429); other errors
 * are retried up to MAX_ATTEMPTS times, then fail the item with the reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../errors';
import { EngineNotReady } from '../engine/errors';
import type { DiskJobStore } from './disk-store';
import { failItem, runItem, type ItemDeps } from './item';
import { MAX_ATTEMPTS, type ItemQueue } from './queue';
import { itemKey, type ItemRef } from './types';

interface Entry {
  ref: ItemRef;
  attempts: number;
}

export interface LocalQueueLog {
  warn(obj: object, msg: string): void;
}

const key = (ref: ItemRef) => `${ref.job}/${itemKey(ref.image, ref.method)}`;
/** The engine is busy or loading: wait, it is nobody's fault. */
const busy = (err: unknown) => err instanceof EngineNotReady || (err instanceof ApiError && (err.status === 429 || err.status === 503));

export class LocalItemQueue implements ItemQueue {
  private pending: Entry[] = [];
  private readonly running = new Map<string, AbortController>();
  private lanes = 0;
  private closed = false;

  constructor(
    private readonly deps: ItemDeps & { store: DiskJobStore },
    private readonly concurrency: number,
    private readonly log: LocalQueueLog,
    private readonly retryDelayMs = 1000,
  ) {}

  async add(items: ItemRef[]): Promise<void> {
    this.pending.push(...items.map((ref) => ({ ref, attempts: 0 })));
    this.pump();
  }

  /** Queues the unfinished items of the jobs on disk (a restart loses no work). */
  async resume(): Promise<number> {
    let n = 0;
    for (const job of await this.deps.store.list()) {
      const state = await this.deps.store.state(job.id);
      if (state.cancelledAt || state.finishedAt) continue;
      const done = new Set((await this.deps.store.results(job.id)).map((r) => itemKey(r.image, r.method)));
      const items: ItemRef[] = [];
      for (let image = 0; image < job.images.length; image++) {
        for (let method = 0; method < job.settings.methods.length; method++) if (!done.has(itemKey(image, method))) items.push({ job: job.id, image, method });
      }
      n += items.length;
      await this.add(items);
    }
    return n;
  }

  private pump(): void {
    while (!this.closed && this.lanes < this.concurrency && this.pending.length > 0) {
      this.lanes++;
      void this.lane().finally(() => this.lanes--);
    }
  }

  private async lane(): Promise<void> {
    for (let entry = this.pending.shift(); entry && !this.closed; entry = this.pending.shift()) await this.runOne(entry);
  }

  private async runOne(entry: Entry): Promise<void> {
    while (!this.deps.engine.ready && !this.closed) await sleep(200);
    const controller = new AbortController();
    this.running.set(key(entry.ref), controller);
    try {
      if (++entry.attempts > 1) await this.deps.store.bump('retried');
      await runItem(this.deps, entry.ref, controller.signal);
    } catch (err) {
      if (controller.signal.aborted || this.closed) return;
      if (busy(err)) entry.attempts--;
      else if (entry.attempts >= MAX_ATTEMPTS) {
        this.log.warn({ err, item: entry.ref }, 'job item failed for good');
        const job = await this.deps.store.record(entry.ref.job);
        if (job) await failItem(this.deps.store, job, entry.ref, `failed ${entry.attempts} times: ${(err as Error).message}`);
        return;
      } else this.log.warn({ err, item: entry.ref, attempt: entry.attempts }, 'job item failed; retrying');
      setTimeout(() => {
        this.pending.push(entry);
        this.pump();
      }, busy(err) ? 200 : this.retryDelayMs).unref();
    } finally {
      this.running.delete(key(entry.ref));
    }
  }

  async cancel(job: string): Promise<void> {
    this.pending = this.pending.filter((e) => e.ref.job !== job);
    for (const [k, controller] of this.running) if (k.startsWith(`${job}/`)) controller.abort(new Error('job cancelled'));
  }

  async counts(): Promise<{ queued: number; running: number }> {
    return { queued: this.pending.length, running: this.running.size };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pending = [];
    for (const controller of this.running.values()) controller.abort(new Error('shutting down'));
  }
}
