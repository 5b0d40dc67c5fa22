/**
 * The scale-out queue: one BullMQ job per item, (image, method), on the queue "advserve-items",
 * so that every worker process on every machine takes items of the same dataset job. Items are
 * retried (MAX_ATTEMPTS, exponential backoff) and, when a worker dies holding one, BullMQ's
 * stalled-job check puts it back for another worker once its lock (ADVSERVE_JOB_LOCK_MS) lapses.
 * Cancellation is published on a Redis channel, which every worker listens to.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MAX_ATTEMPTS, type ItemQueue } from './queue';
import type { ItemRef } from './types';

export const QUEUE_NAME = 'advserve-items';
export const CANCEL_CHANNEL = 'advserve:cancel';

/** The BullMQ job id of an item (BullMQ ids must not contain ":"). */
export const bullId = (ref: ItemRef) => `${ref.job}.${ref.image}.${ref.method}`;

export class BullItemQueue implements ItemQueue {
  readonly queue: Queue<ItemRef>;

  constructor(private readonly redis: Redis) {
    this.queue = new Queue<ItemRef>(QUEUE_NAME, { connection: redis });
    // Errors surface on the calls that failed (a 503); the emitter must not crash the process.
    this.queue.on('error', () => {});
  }

  async add(items: ItemRef[]): Promise<void> {
    // One addBulk is one MULTI in Redis: every item of the job is queued, or none.
    await this.queue.addBulk(
      items.map((ref) => ({
        name: 'item',
        data: ref,
        opts: { jobId: bullId(ref), attempts: MAX_ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: true },
      })),
    );
  }

  async cancel(job: string, items: ItemRef[]): Promise<void> {
    await this.redis.publish(CANCEL_CHANNEL, job);
    // Waiting items go now; an item a worker holds is stopped by the message (and skipped by its status).
    await Promise.all(items.map((ref) => this.queue.remove(bullId(ref)).catch(() => 0)));
  }

  async counts(): Promise<{ queued: number; running: number }> {
    const c = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'paused', 'active');
    return { queued: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0), running: c.active ?? 0 };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
