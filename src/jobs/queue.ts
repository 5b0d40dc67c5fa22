/** Where items wait for a runner: in this process (embedded mode), or on a BullMQ queue in Redis. */
import type { ItemRef } from './types';

export interface ItemQueue {
  /** Queues every item of a job, all or none. */
  add(items: ItemRef[]): Promise<void>;
  /** Drops the job's waiting items and stops its running ones at their next iteration. */
  cancel(job: string, items: ItemRef[]): Promise<void>;
  /** Items waiting and running now (all keys). */
  counts(): Promise<{ queued: number; running: number }>;
  close(): Promise<void>;
}

/** How many times an item runs before an error (other than its own: see item.ts failsItem) fails it. */
export const MAX_ATTEMPTS = 3;
