/**
 * The service's transform threads: defense chains are pure JS loops over the pixels (median,
 * blur, bits, resize-pad) or sharp calls (jpeg), and on the main thread a heavy one would stall
 * every other request, /healthz included. Here each chain is a piscina task on a worker thread.
 * A fired signal (the request's deadline, or its client gone) takes a queued task out of the
 * queue and terminates the thread running a started one; piscina starts a fresh thread for the
 * next task. The pool starts with the first chain, so an app that never runs one starts no
 * thread; from then on one thread stays ready (a cancelled one is replaced at once, so the next
 * request does not wait for a thread to load), and further ones stop after a minute idle.
 */
import { extname, join } from 'node:path';
import { Piscina } from 'piscina';
import type { RgbImage } from '../../images/types';
import type { ChainRunner, ChainTask } from '../chain';

const IDLE_MS = 60_000;

export class TransformPool {
  private piscina?: Piscina;
  private closed = false;

  constructor(private readonly maxThreads: number) {}

  private started(): Piscina {
    if (this.closed) throw new Error('the transform pool is closed');
    // Under tsx or tap (development, tests) this file is TypeScript, and so is the worker.
    const ts = extname(__filename) === '.ts';
    this.piscina ??= new Piscina({
      filename: join(__dirname, ts ? 'worker-entry.js' : 'worker.js'),
      // The development entry loads tsx itself; the parent's loader flags (tap's) would only make
      // each thread start slower (~1.7 s instead of ~0.3 s), and a cancelled thread is replaced.
      ...(ts ? { execArgv: [] } : {}),
      minThreads: 1,
      maxThreads: this.maxThreads,
      idleTimeout: IDLE_MS,
      concurrentTasksPerWorker: 1,
    });
    return this.piscina;
  }

  /** Thread ids now running (tests: a cancelled task's thread is replaced). */
  get threadIds(): number[] {
    return (this.piscina?.threads ?? []).map((w) => w.threadId);
  }

  readonly run: ChainRunner = async (task: ChainTask, signal?: AbortSignal): Promise<RgbImage> => {
    signal?.throwIfAborted();
    // An exact copy, moved to the thread: the caller keeps its image for the next defense, and the
    // image may be a view into a larger buffer (structured clone would copy all of that).
    const rgb = task.image.rgb.slice();
    const alpha = task.image.alpha?.slice();
    const image: RgbImage = { width: task.image.width, height: task.image.height, rgb, ...(alpha ? { alpha } : {}) };
    const transferList = alpha ? [rgb.buffer, alpha.buffer] : [rgb.buffer];
    return (await this.started().run({ ...task, image }, { signal, transferList })) as RgbImage;
  };

  async close(): Promise<void> {
    this.closed = true;
    await this.piscina?.destroy();
  }
}
