/** Where jobs, their input images, item results and adversarial images live: local disk or Redis. */
import type { ItemResult, JobRecord, JobState } from './types';

export type StatName = 'done' | 'failed' | 'retried';

export interface JobStore {
  /** Saves the job and its input images (image order); nothing is queued before this has finished. */
  create(job: JobRecord, inputs: Buffer[]): Promise<void>;
  record(id: string): Promise<JobRecord | undefined>;
  state(id: string): Promise<JobState>;
  input(id: string, image: number): Promise<Buffer | undefined>;
  /** Notes the first item's start (no-op after the first time). */
  started(id: string): Promise<void>;
  /** Stores an item's result (and its adversarial PNG); sets finishedAt when it was the last. Idempotent per item. */
  putResult(id: string, result: ItemResult, png: Buffer | undefined, total: number): Promise<void>;
  results(id: string): Promise<ItemResult[]>;
  /** How many items have a result. */
  resultCount(id: string): Promise<number>;
  hasResult(id: string, image: number, method: number): Promise<boolean>;
  adversarial(id: string, image: number, method: number): Promise<Buffer | undefined>;
  /** Marks the job cancelled and deletes its inputs, results and images (the record stays until the TTL). */
  cancel(id: string): Promise<void>;
  /** Removes the job entirely (a submission that could not be queued). */
  remove(id: string): Promise<void>;
  /** The ids of the jobs of one owner that are still around. */
  ownerJobs(owner: string): Promise<string[]>;
  /** Item counters for /metrics. */
  bump(stat: StatName): Promise<void>;
  stats(): Promise<Record<StatName, number>>;
  close(): Promise<void>;
}
