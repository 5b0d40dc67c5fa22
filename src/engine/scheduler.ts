/**
 * Continuous batching. Every attack job asks for its next gradients one step at a time; the
 * scheduler queues those requests per model and, whenever the runner has a free slot, sends
 * the model whose oldest request has waited longest one batch of up to `maxBatch` requests
 * (split evenly over the free slots, so that every worker gets a share).
 * Jobs therefore join and leave between steps (a new request never waits for a running
 * 20-iteration attack to finish), requests of different eps, targets, methods and image sizes
 * share batches, and FIFO order per model means a flood of new jobs cannot starve old ones.
 */
import type { GradRequest } from './gradients';
import type { EngineMetrics } from './metrics';
import type { GradientRunner, ImageRequest } from './runner';

export interface SchedulerOptions {
  /** Most requests in one model pass. */
  maxBatch: number;
  /** How long a lone request may wait for company before its batch starts, ms (0: never wait). */
  maxWaitMs: number;
  /** Injectable clock and timer, for tests. */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
}

type Kind = 'grad' | 'probs';

interface Pending {
  kind: Kind;
  model: string;
  req: GradRequest | ImageRequest;
  signal?: AbortSignal;
  enqueuedAt: number;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

export class BatchScheduler {
  private readonly queues = new Map<string, Pending[]>();
  private running = 0;
  private pumpScheduled = false;
  /** Set by close(): new requests are refused with it. */
  private closedWith?: { reason: unknown };
  private settledWaiters: Array<() => void> = [];
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;

  constructor(
    private readonly runner: GradientRunner,
    private readonly options: SchedulerOptions,
    private readonly metrics?: EngineMetrics,
  ) {
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  }

  /** Requests waiting for a batch, all models together. */
  get depth(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  get inFlight(): number {
    return this.running;
  }

  direction(model: string, req: GradRequest, signal?: AbortSignal): Promise<Float32Array> {
    return this.enqueue('grad', model, req, signal);
  }

  probabilities(model: string, req: ImageRequest, signal?: AbortSignal): Promise<Float32Array> {
    return this.enqueue('probs', model, req, signal);
  }

  /**
   * Refuses new requests and fails the queued ones with `reason`; resolves once no batch is
   * running any more, so that the runner can be disposed without a pass in flight.
   */
  close(reason: unknown): Promise<void> {
    this.closedWith = { reason };
    for (const q of this.queues.values()) for (const p of q.splice(0)) p.reject(reason);
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private enqueue(kind: Kind, model: string, req: GradRequest | ImageRequest, signal?: AbortSignal): Promise<Float32Array> {
    if (this.closedWith) return Promise.reject(this.closedWith.reason);
    return new Promise((resolve, reject) => {
      const key = `${kind}:${model}`;
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = []));
      q.push({ kind, model, req, signal, enqueuedAt: this.now(), resolve, reject });
      this.schedulePump();
    });
  }

  // Pump on a later turn so that requests submitted together (one job's models) are seen together.
  private schedulePump(delay = 0): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    const run = () => {
      this.pumpScheduled = false;
      this.pump();
    };
    if (delay > 0) this.setTimer(run, delay);
    else setImmediate(run);
  }

  /** Drops requests whose job was cancelled: they free their place at the next tick. */
  private dropCancelled(): void {
    for (const q of this.queues.values()) {
      for (let i = q.length - 1; i >= 0; i--) {
        const p = q[i];
        if (p.signal?.aborted) {
          q.splice(i, 1);
          p.reject(p.signal.reason ?? new Error('cancelled'));
        }
      }
    }
  }

  private pump(): void {
    this.dropCancelled();
    while (this.running < this.runner.slots) {
      let oldestKey: string | undefined;
      let oldest = Infinity;
      for (const [key, q] of this.queues) {
        if (q.length && q[0].enqueuedAt < oldest) {
          oldest = q[0].enqueuedAt;
          oldestKey = key;
        }
      }
      if (oldestKey === undefined) return;
      const q = this.queues.get(oldestKey)!;
      // A lone request may wait a little for others to join, if the caller asked for that.
      const waited = this.now() - oldest;
      if (q.length < this.options.maxBatch && waited < this.options.maxWaitMs) {
        this.schedulePump(this.options.maxWaitMs - waited);
        return;
      }
      // With several workers free, share the queue out rather than give one worker all of it:
      // jobs advance in lock-step, so a batch left on one worker would idle the others.
      const free = this.runner.slots - this.running;
      this.launch(q.splice(0, Math.min(this.options.maxBatch, Math.ceil(q.length / free))));
    }
  }

  private launch(batch: Pending[]): void {
    const { kind, model } = batch[0];
    const started = this.now();
    this.running++;
    this.metrics?.batchSize.observe(batch.length);
    for (const p of batch) this.metrics?.queueWaitSeconds.observe((started - p.enqueuedAt) / 1000);
    const work =
      kind === 'grad'
        ? this.runner.directions(model, batch.map((p) => p.req as GradRequest))
        : this.runner.probabilities(model, batch.map((p) => p.req));
    work
      .then(
        (results) => batch.forEach((p, i) => p.resolve(results[i])),
        // A failed batch fails every job in it; the scheduler itself carries on.
        (err) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        this.metrics?.stepSeconds.observe((this.now() - started) / 1000);
        this.running--;
        if (this.running === 0) for (const wake of this.settledWaiters.splice(0)) wake();
        this.schedulePump();
      });
  }
}
