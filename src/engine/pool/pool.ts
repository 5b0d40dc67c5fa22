/**
 * A pool of gradient workers behind the GradientRunner interface. Each worker holds every
 * model; a batch goes to the least busy worker, so one attack's three model passes run on
 * both cores and concurrent attacks spread over them. A worker that dies fails its batches
 * (their jobs get an error) and is replaced; the service keeps serving.
 */
import type { Worker } from 'node:worker_threads';
import type { BackendChoice } from '../../config';
import type { ModelSpec } from '../../models/types';
import type { GradRequest } from '../gradients';
import type { NetRuntime, OnnxProvider } from '../load-passes';
import { backendLabel, type GradientRunner, type ImageRequest } from '../runner';
import type { WorkerInit, WorkerReply, WorkerTask } from './protocol';
import { spawnWorker } from './spawn';

type WorkerTaskBody = WorkerTask extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;

interface Slot {
  worker: Worker;
  busy: number;
  /** Replies awaited: batch results, or a load's fallbacks. */
  pending: Map<number, { resolve: (r: Float32Array[] | string[]) => void; reject: (e: Error) => void }>;
}

export interface PoolLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class WorkerPool implements GradientRunner {
  private readonly workers: Slot[] = [];
  private nextId = 1;
  private loadedSpecs: ModelSpec[] = [];
  private closing = false;
  backend = 'unknown';
  /** Threads running each worker's networks (onnxruntime's, or XNNPACK's), as the workers report them (null: neither). */
  wasmThreads: number | null = null;
  /** onnxruntime's intra-op threads per model that runs there, as the workers reported them. */
  sessionThreads: Record<string, number> = {};
  /** The models whose probability passes run a forward-only session, as the workers reported at start. */
  forwardSessions: string[] = [];
  fallbacks: Record<string, string[]> = {};

  private constructor(
    private readonly init: WorkerInit,
    private readonly log: PoolLog,
  ) {}

  get slots(): number {
    return this.workers.length;
  }

  /** Starts `size` workers and waits until every one has loaded and warmed up every model. */
  static async start(
    size: number,
    backend: BackendChoice,
    specs: ModelSpec[],
    log: PoolLog,
    options: { wasmThreads?: number; onnxWideThreads?: number; microBatch?: number; runtime?: NetRuntime; onnxProvider?: OnnxProvider; forwardMaxBytes?: number } = {},
  ): Promise<WorkerPool> {
    const init: WorkerInit = {
      backend,
      runtime: options.runtime ?? 'tfjs',
      specs,
      added: [],
      wasmThreads: options.wasmThreads ?? 1,
      onnxWideThreads: options.onnxWideThreads,
      microBatch: options.microBatch ?? Infinity,
      onnxProvider: options.onnxProvider ?? 'cpu',
      forwardMaxBytes: options.forwardMaxBytes,
    };
    const pool = new WorkerPool(init, log);
    try {
      await Promise.all(Array.from({ length: size }, () => pool.addWorker()));
    } catch (err) {
      await pool.dispose();
      throw err;
    }
    return pool;
  }

  private addWorker(): Promise<void> {
    return new Promise((resolve, reject) => {
      const slot: Slot = { worker: spawnWorker('worker', this.init), busy: 0, pending: new Map() };
      let ready = false;
      slot.worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') {
          ready = true;
          this.backend = backendLabel(msg.backend, msg.runtimes);
          this.wasmThreads = msg.wasmThreads;
          this.sessionThreads = msg.sessionThreads;
          this.forwardSessions = msg.forwardSessions;
          this.loadedSpecs = msg.specs;
          this.fallbacks = msg.fallbacks;
          this.workers.push(slot);
          this.log.info({ threadId: slot.worker.threadId, loadMs: msg.loadMs, wasmThreads: msg.wasmThreads, sessionThreads: msg.sessionThreads, forwardSessions: msg.forwardSessions }, 'gradient worker ready');
          resolve();
        } else if (msg.type === 'init-error') {
          reject(new Error(`gradient worker failed to start: ${msg.message}`));
          void slot.worker.terminate();
        } else {
          const p = slot.pending.get(msg.id);
          if (!p) return;
          slot.pending.delete(msg.id);
          slot.busy--;
          if (msg.type === 'result') p.resolve(msg.results);
          else if (msg.type === 'loaded') p.resolve(msg.fallbacks);
          else p.reject(new Error(msg.message));
        }
      });
      slot.worker.on('error', (err) => this.log.error({ err }, 'gradient worker error'));
      slot.worker.on('exit', (code) => {
        if (!ready) return reject(new Error(`gradient worker exited with code ${code} while starting`));
        const i = this.workers.indexOf(slot);
        if (i >= 0) this.workers.splice(i, 1);
        for (const p of slot.pending.values()) p.reject(new Error(`gradient worker exited (code ${code})`));
        slot.pending.clear();
        if (!this.closing) {
          this.log.error({ code }, 'gradient worker died; starting a replacement');
          this.addWorker().catch((err) => this.log.error({ err }, 'replacement worker failed to start'));
        }
      });
    });
  }

  specs(): ModelSpec[] {
    return this.loadedSpecs;
  }

  private post<T extends Float32Array[] | string[]>(slot: Slot, task: WorkerTaskBody): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (r: Float32Array[] | string[]) => void, reject });
      slot.busy++;
      slot.worker.postMessage({ ...task, id });
    });
  }

  private send(task: WorkerTaskBody): Promise<Float32Array[]> {
    if (this.workers.length === 0) return Promise.reject(new Error('no gradient worker is running'));
    return this.post(this.workers.reduce((a, b) => (b.busy < a.busy ? b : a)), task);
  }

  directions(model: string, reqs: GradRequest[]): Promise<Float32Array[]> {
    return this.send({ kind: 'grad', model, reqs });
  }

  probabilities(model: string, reqs: ImageRequest[]): Promise<Float32Array[]> {
    return this.send({ kind: 'probs', model, reqs });
  }

  /**
   * Every worker loads the model (each holds its own copy). When any of them fails, those that
   * loaded it free it again and the error is the first worker's: the serving models are untouched.
   * Recorded in the workers' start data first, so that a worker replaced meanwhile loads it too.
   */
  async load(key: string, spec: ModelSpec): Promise<{ fallbacks: string[] }> {
    if (this.workers.length === 0) throw new Error('no gradient worker is running');
    const added = (this.init.added ??= []);
    const entry = { key, spec };
    added.push(entry);
    const slots = [...this.workers];
    const results = await Promise.allSettled(slots.map((slot) => this.post<string[]>(slot, { kind: 'load', key, spec })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      added.splice(added.indexOf(entry), 1);
      await this.unloadFrom(slots.filter((_, i) => results[i].status === 'fulfilled'), key);
      throw failed.reason;
    }
    return { fallbacks: (results[0] as PromiseFulfilledResult<string[]>).value };
  }

  moved(key: string, spec: ModelSpec): void {
    const entry = this.init.added?.find((a) => a.key === key);
    if (entry) entry.spec = spec;
  }

  async unload(key: string): Promise<void> {
    const added = this.init.added ?? [];
    const i = added.findIndex((a) => a.key === key);
    if (i >= 0) added.splice(i, 1);
    await this.unloadFrom([...this.workers], key);
  }

  private async unloadFrom(slots: Slot[], key: string): Promise<void> {
    // A worker that dies meanwhile takes its copy with it: nothing left to free there.
    await Promise.allSettled(slots.map((slot) => this.post(slot, { kind: 'unload', key })));
  }

  async dispose(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((s) => s.worker.terminate()));
    this.workers.length = 0;
  }
}
