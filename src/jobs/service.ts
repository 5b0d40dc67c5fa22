/**
 * What the HTTP routes ask of the job engine: submit, status, report, images, cancel, metrics,
 * over a store (disk or Redis) and a queue (in process or BullMQ). Every job belongs to the key
 * that submitted it; another key's job is "not found".
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import type { EvalReport } from '../eval/run';
import { JobError, JobNotDone, JobNotFound, JobQueueFull, JobStoreUnavailable } from './errors';
import type { ItemQueue } from './queue';
import { jobReport, jobView, type JobView } from './report';
import type { JobStore } from './store';
import { itemCount, type ItemRef, type JobRecord, type JobSettings } from './types';

export interface JobServiceOptions {
  /** Items one key may have queued (not finished) over all its jobs. */
  maxQueuedPerKey: number;
  /** Redis mode: store errors are the store being unreachable (503), not bugs. */
  remote: boolean;
}

export interface Submission {
  owner: string;
  settings: JobSettings;
  images: Array<{ name: string; data: Buffer }>;
  classes: string[];
  backend: string;
}

const itemsOf = (job: JobRecord): ItemRef[] =>
  job.images.flatMap((_, image) => job.settings.methods.map((_m, method) => ({ job: job.id, image, method })));

/**
 * The file name of an image in the zip: its name without the extension, as a PNG, under the
 * method's folder. Names come from clients (archive paths): "..", "." and empty segments and
 * backslashes are dropped, so that unpacking the zip cannot write outside its folder.
 */
export const zipName = (method: string, name: string) => {
  const safe = (s: string) => s.replace(/\\/g, '/').split('/').filter((p) => p && p !== '.' && p !== '..').join('/');
  return `${safe(method) || 'method'}/${safe(name).replace(/\.[^./]*$/, '') || 'image'}.png`;
};

export class JobService {
  constructor(
    readonly store: JobStore,
    readonly queue: ItemQueue,
    private readonly opts: JobServiceOptions,
  ) {}

  /** Store errors in Redis mode are an unreachable store: 503, retry. */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (this.opts.remote && !(err instanceof JobError)) throw new JobStoreUnavailable(err);
      throw err;
    }
  }

  private async owned(owner: string, id: string): Promise<JobRecord> {
    const job = await this.store.record(id);
    if (!job || job.owner !== owner) throw new JobNotFound(id);
    return job;
  }

  /** Items the owner has queued or running now. */
  private async queuedFor(owner: string): Promise<number> {
    let n = 0;
    for (const id of await this.store.ownerJobs(owner)) {
      const job = await this.store.record(id);
      if (!job || (await this.store.state(id)).cancelledAt) continue;
      n += itemCount(job) - (await this.store.resultCount(id));
    }
    return n;
  }

  submit(sub: Submission): Promise<JobView> {
    return this.guard(async () => {
      const adding = sub.images.length * sub.settings.methods.length;
      const queued = await this.queuedFor(sub.owner);
      if (queued + adding > this.opts.maxQueuedPerKey) throw new JobQueueFull(queued, adding, this.opts.maxQueuedPerKey);
      const job: JobRecord = {
        id: randomUUID(),
        owner: sub.owner,
        createdAt: new Date().toISOString(),
        settings: sub.settings,
        images: sub.images.map((i) => i.name),
        classes: sub.classes,
        backend: sub.backend,
      };
      await this.store.create(job, sub.images.map((i) => i.data));
      try {
        await this.queue.add(itemsOf(job));
      } catch (err) {
        // Nothing queued half-way: the job goes too.
        await this.store.remove(job.id).catch(() => undefined);
        throw err;
      }
      return jobView(job, {}, []);
    });
  }

  status(owner: string, id: string): Promise<JobView> {
    return this.guard(async () => {
      const job = await this.owned(owner, id);
      return jobView(job, await this.store.state(id), await this.store.results(id));
    });
  }

  /** The finished job's report (JobNotDone before). */
  report(owner: string, id: string): Promise<EvalReport> {
    return this.guard(async () => {
      const job = await this.owned(owner, id);
      await this.notCancelled(id);
      const results = await this.store.results(id);
      allDone(job, results.length);
      return jobReport(job, results);
    });
  }

  /** A cancelled job's results are deleted: asking for them is asking for something gone (404). */
  private async notCancelled(id: string): Promise<void> {
    if ((await this.store.state(id)).cancelledAt) throw new JobNotFound(id, ': it was cancelled and its results deleted');
  }

  record(owner: string, id: string): Promise<JobRecord> {
    return this.guard(() => this.owned(owner, id));
  }

  /** The adversarial PNG of image `image` after method number `method`, once that item is done. */
  image(owner: string, id: string, image: number, method: number): Promise<Buffer | undefined> {
    return this.guard(async () => {
      await this.owned(owner, id);
      return this.store.adversarial(id, image, method);
    });
  }

  /** Every adversarial image of a finished job as a zip: `<method>/<image name>.png`. */
  zip(owner: string, id: string): Promise<Readable> {
    return this.guard(async () => {
      const job = await this.owned(owner, id);
      await this.notCancelled(id);
      allDone(job, await this.store.resultCount(id));
      const zip = new ZipFile();
      for (const [n, name] of job.images.entries()) {
        for (const [m, method] of job.settings.methods.entries()) {
          const png = await this.store.adversarial(id, n, m);
          if (png) zip.addBuffer(png, zipName(method, name), { compress: false });
        }
      }
      zip.end();
      return zip.outputStream as Readable;
    });
  }

  /** Stops the job's work and deletes its results; its status stays "cancelled" until the TTL. */
  cancel(owner: string, id: string): Promise<void> {
    return this.guard(async () => {
      const job = await this.owned(owner, id);
      await this.store.cancel(id);
      await this.queue.cancel(id, itemsOf(job));
    });
  }

  /** Queue gauges and item counters, Prometheus text. */
  async metricsText(): Promise<string> {
    const gauge = (name: string, help: string, v: number, type = 'gauge') => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${v}\n`;
    try {
      const [counts, stats] = await Promise.all([this.queue.counts(), this.store.stats()]);
      return (
        gauge('advserve_job_store_up', 'Whether the job store (local disk, or Redis) answered.', 1) +
        gauge('advserve_job_items_queued', 'Dataset job items waiting for a runner (all keys).', counts.queued) +
        gauge('advserve_job_items_running', 'Dataset job items running now.', counts.running) +
        gauge('advserve_job_items_done_total', 'Dataset job items finished with a result.', stats.done, 'counter') +
        gauge('advserve_job_items_failed_total', 'Dataset job items failed (reason in the report).', stats.failed, 'counter') +
        gauge('advserve_job_items_retried_total', 'Dataset job item runs that were retries (an error, or a worker that died holding the item).', stats.retried, 'counter')
      );
    } catch {
      return gauge('advserve_job_store_up', 'Whether the job store (local disk, or Redis) answered.', 0);
    }
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    await this.store.close().catch(() => undefined);
  }
}

/** What needs every item's result (report, zip) waits for the last one (409 job-not-done before). */
function allDone(job: JobRecord, done: number): void {
  if (done < itemCount(job)) throw new JobNotDone(job.id, done, itemCount(job));
}
