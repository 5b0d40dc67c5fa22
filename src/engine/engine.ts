/**
 * The engine behind the HTTP routes and the CLI: it serves the models (selection, ensembles,
 * adding and removing them), admits jobs (./admission) and owns the scheduler that batches every
 * job's passes into one pass per model, run on this thread or on the worker pool. An attack's
 * own state (criterion, eps-box, clean prediction, progress, cancellation) is its job's (./job).
 */
import type { RgbImage } from '../images/types';
import { sameClasses } from '../models/class-names';
import { describe } from '../models/describe';
import type { ModelInfo, ModelSpec } from '../models/types';
import { EngineNotReady, InvalidOption, UnknownModel } from './errors';
import { attackTooLarge, JobAdmission, type JobKind, type JobTicket } from './admission';
import { validateAttack } from './validate';
import { AbortedError, AttackJob } from './job';
import { EngineMetrics } from './metrics';
import { probabilitiesOf } from './probs';
import type { GradientRunner } from './runner';
import { BatchScheduler, type SchedulerOptions } from './scheduler';
import type { AttackEngine, AttackOutcome, AttackParams, ClassifyOutcome, LabelProb } from './types';

export { AbortedError };

export interface EngineOptions extends SchedulerOptions {
  /** Attack and classify jobs admitted at once (running or waiting); beyond it, 429. */
  maxJobs: number;
  /** Largest image an attack takes, pixels (413 beyond): bounds one attack's float tensors. */
  maxAttackPixels: number;
  /** Sum of the pixels of the attacks admitted at once (429 beyond): bounds them all together. */
  maxInflightPixels: number;
}

export const ENGINE_DEFAULTS: EngineOptions = { maxBatch: 8, maxWaitMs: 0, maxJobs: 64, maxAttackPixels: 4_194_304, maxInflightPixels: 8_388_608 };

/**
 * A model the engine serves: its spec, the runner key its passes are under (its id, for models
 * loaded at start), and the jobs using it now, so that a model being removed or replaced is
 * freed only after they finish.
 */
interface Served {
  key: string;
  spec: ModelSpec;
  jobs: number;
  /** Set while the model is retired: called when its last job ends. */
  onIdle?: () => void;
}

/** A model loaded beside the serving ones (stageModel), not served yet. */
export interface StagedModel {
  readonly key: string;
  readonly spec: ModelSpec;
  readonly fallbacks: string[];
}

/** Models grouped by the classes they share (each group can form an ensemble), in load order. */
export function ensembles<T extends { id: string; labels: string[]; classIds?: string[] }>(models: T[]): T[][] {
  const groups: T[][] = [];
  for (const m of models) {
    const group = groups.find((g) => sameClasses(g[0], m));
    if (group) group.push(m);
    else groups.push([m]);
  }
  return groups;
}

function describeGroup(group: { id: string; labels: string[] }[]): string {
  const labels = group[0].labels;
  const shown = labels.length <= 8 ? `: ${labels.join(', ')}` : '';
  return `${group.map((m) => m.id).join(',')} (${labels.length} classes${shown})`;
}

export class Engine implements AttackEngine {
  readonly metrics = new EngineMetrics();
  private readonly options: EngineOptions;
  private attached?: { runner: GradientRunner; scheduler: BatchScheduler };
  /** The models served, by id, in load order. */
  private readonly served = new Map<string, Served>();
  private staged = 0;
  private starting = false;
  /** Job slots and the attack pixel budget; the HTTP layer reserves tickets here before reading a body. */
  readonly admission: JobAdmission;

  /**
   * The runner may come later (attach): the server starts listening, and answers /readyz
   * with 503, while the models load.
   */
  constructor(runner?: GradientRunner, options: Partial<EngineOptions> = {}, private readonly mainBackend = 'unknown') {
    this.options = { ...ENGINE_DEFAULTS, ...options };
    this.admission = new JobAdmission(this.options, (kind) => this.metrics.jobs.inc({ kind, outcome: 'rejected' }));
    if (runner) this.attach(runner);
    this.metrics.gauge('advserve_queue_depth', 'Gradient and classify requests waiting for a batch.', () => this.attached?.scheduler.depth ?? 0);
    this.metrics.gauge('advserve_batches_in_flight', 'Batched model passes running now.', () => this.attached?.scheduler.inFlight ?? 0);
    this.metrics.gauge('advserve_jobs_active', 'Attack and classify jobs admitted and not finished.', () => this.admission.jobs);
    this.metrics.gauge('advserve_attack_pixels_inflight', 'Pixels of the attacks admitted and not finished (ADVSERVE_MAX_INFLIGHT_PIXELS bounds them).', () => this.admission.pixels);
    this.metrics.gauge('advserve_workers', 'Batches that can run at once (worker threads, or 1 in-process).', () => this.attached?.runner.slots ?? 0);
  }

  /** Connects the loaded models; the engine is ready from here on. */
  attach(runner: GradientRunner): void {
    if (runner.specs().length === 0) throw new Error('no models loaded');
    this.attached = { runner, scheduler: new BatchScheduler(runner, this.options, this.metrics) };
    this.served.clear();
    for (const spec of runner.specs()) this.served.set(spec.id, { key: spec.id, spec, jobs: 0 });
  }

  /** The spec of the served model `id`, if any. */
  modelSpec(id: string): ModelSpec | undefined {
    return this.served.get(id)?.spec;
  }

  /**
   * Loads, compiles and warms up a model beside the serving ones (in every worker), under a key of
   * its own; nothing serves it until serveModel. A failure (not a model, an unsupported op, labels
   * that do not match the outputs) throws the loader's error and leaves the serving models as they were.
   */
  async stageModel(spec: ModelSpec): Promise<StagedModel> {
    const runner = this.runner;
    if (!runner.load) throw new Error('this runner cannot load models at run time');
    // '#' cannot occur in a model id, so a staged key never meets a served id.
    const key = `${spec.id}#${++this.staged}`;
    const { fallbacks } = await runner.load(key, spec);
    return { key, spec, fallbacks };
  }

  /** Frees a staged model that will not be served. */
  async discardStaged(staged: StagedModel): Promise<void> {
    await this.runner.unload?.(staged.key);
  }

  /**
   * Serves a staged model under its id, with `spec` (the staged one, or the same with its final
   * folder). A model of that id already served is replaced: new requests go to the new one at
   * once, and the old one is freed once the jobs using it finish: `retired` settles then.
   */
  serveModel(staged: StagedModel, spec: ModelSpec = staged.spec): { retired: Promise<void> } {
    const old = this.served.get(spec.id);
    if (spec !== staged.spec) this.runner.moved?.(staged.key, spec);
    this.served.set(spec.id, { key: staged.key, spec, jobs: 0 });
    return { retired: old ? this.retire(old) : Promise.resolve() };
  }

  /**
   * Stops serving `id`: requests from now on get 404 unknown-model; the jobs already using it
   * finish, then it is freed. Throws unknownModel when no such model is served.
   */
  async removeModel(id: string): Promise<void> {
    const served = this.served.get(id);
    if (!served) throw new UnknownModel(id);
    this.served.delete(id);
    await this.retire(served);
  }

  private async retire(served: Served): Promise<void> {
    if (served.jobs > 0) await new Promise<void>((resolve) => (served.onIdle = resolve));
    await this.runner.unload?.(served.key);
  }

  /** Runs `work` with the models counted as in use (see retire). */
  private async using<T>(models: Served[], work: () => Promise<T>): Promise<T> {
    for (const m of models) m.jobs++;
    try {
      return await work();
    } finally {
      for (const m of models) if (--m.jobs === 0) m.onIdle?.();
    }
  }

  get runner(): GradientRunner {
    if (!this.attached) throw new EngineNotReady();
    return this.attached.runner;
  }

  get scheduler(): BatchScheduler {
    if (!this.attached) throw new EngineNotReady();
    return this.attached.scheduler;
  }

  get backend(): string {
    return this.attached?.runner.backend ?? this.mainBackend;
  }

  get ready(): boolean {
    return this.attached !== undefined && !this.starting;
  }

  /** Runs `work` (loading the model store at start) with the engine still answering not-ready. */
  async beforeReady(work: () => Promise<void>): Promise<void> {
    this.starting = true;
    try {
      await work();
    } finally {
      this.starting = false;
    }
  }

  listModels(): ModelInfo[] {
    return [...this.served.values()].map((s) => describe(s.spec, this.backend));
  }

  metricsText(): string {
    return this.metrics.render();
  }

  private select(ids?: string[]): Served[] {
    if (!this.ready) throw new EngineNotReady();
    const chosen = ids !== undefined && ids.length > 0;
    const out = chosen ? ids.map((id) => this.served.get(id) ?? this.fail(new UnknownModel(id))) : [...this.served.values()];
    if (out.length === 0) throw new EngineNotReady(true);
    // Models form an ensemble when their classes line up: equal classIds when all have them, else equal labels.
    const groups = ensembles(out.map((m) => m.spec));
    if (groups.length > 1) {
      if (chosen) {
        const [a, b] = groups;
        throw new InvalidOption('models', `models ${a[0].id} and ${b[0].id} have different classes and cannot form an ensemble`);
      }
      throw new InvalidOption('models', `the loaded models have different classes; choose an ensemble with models=: ${groups.map(describeGroup).join(' or ')}`);
    }
    return out;
  }

  private fail(err: Error): never {
    throw err;
  }

  labels(ids?: string[]): string[] {
    return this.select(ids)[0].spec.labels;
  }

  classes(ids?: string[]): { labels: string[]; classIds?: string[] } {
    const models = this.select(ids).map((m) => m.spec);
    const classIds = models.every((m) => m.classIds) ? models[0].classIds : undefined;
    return { labels: models[0].labels, ...(classIds ? { classIds } : {}) };
  }

  /** A job slot (429 queue-full when none is free), for a caller that admits a job before it has the image. */
  reserve(kind: JobKind): JobTicket {
    return this.admission.reserve(kind);
  }

  /**
   * Admission control: a bounded number of jobs and of attack pixels; the rest get 429 with a
   * retry hint. `ticket`: a slot the caller (the HTTP layer) reserved already, held here until
   * the work is over; its pixels must fit now. Without one (CLI, eval), a job that does not fit
   * the pixel budget waits for running attacks to finish instead.
   */
  private async admit<T>(kind: JobKind, work: () => Promise<T>, ticket?: JobTicket, pixels = 0, signal?: AbortSignal): Promise<T> {
    const job = ticket ?? this.admission.reserve(kind);
    if (ticket) job.hold();
    try {
      if (pixels > 0 && ticket) job.claimPixels(pixels);
      else if (pixels > 0) await job.claimPixelsWhenFree(pixels, signal);
    } catch (err) {
      job.release();
      throw err;
    }
    try {
      const out = await work();
      this.metrics.jobs.inc({ kind, outcome: 'finished' });
      return out;
    } catch (err) {
      this.metrics.jobs.inc({ kind, outcome: err instanceof AbortedError ? 'cancelled' : 'failed' });
      throw err;
    } finally {
      job.release();
    }
  }

  async classify(image: RgbImage, opts: { models?: string[]; topK: number; ticket?: JobTicket }): Promise<ClassifyOutcome> {
    const models = this.select(opts.models);
    const labels = models[0].spec.labels;
    return this.using(models, () => this.admit('classify', async () => {
      const probs = await probabilitiesOf(this.scheduler, models.map((m) => m.key), image);
      const top = (p: Float32Array): LabelProb[] =>
        [...p]
          .map((prob, index) => ({ index, label: labels[index], prob }))
          .sort((a, b) => b.prob - a.prob)
          .slice(0, opts.topK);
      return { models: models.map((m, i) => ({ id: m.spec.id, top: top(probs.perModel[i]) })), ensemble: { top: top(probs.ensemble) } };
    }, opts.ticket));
  }

  async attack(image: RgbImage, params: AttackParams): Promise<AttackOutcome> {
    const models = this.select(params.models);
    const valid = validateAttack(params, models[0].spec.labels.length);
    if (image.width * image.height > this.options.maxAttackPixels) throw attackTooLarge(image.width, image.height, this.options.maxAttackPixels);
    return this.using(models, () => this.admit('attack', async () => {
      try {
        return await new AttackJob(image, params, models, valid, this.scheduler).run();
      } catch (err) {
        // Whatever surfaced first (a dropped queue entry, a check between steps), a cancelled job is cancelled.
        if (params.signal?.aborted) throw new AbortedError(params.signal.reason);
        throw err;
      }
    }, params.ticket, image.width * image.height, params.signal));
  }

  /**
   * Frees the models (worker threads, onnxruntime sessions). Queued passes fail with `reason`;
   * passes already running are waited for first: onnxruntime aborts the process (Napi::Error)
   * when a session, or the thread that runs it, goes away while a run is in flight.
   */
  async dispose(reason: unknown = new Error('the engine was disposed')): Promise<void> {
    const attached = this.attached;
    this.attached = undefined;
    if (!attached) return;
    await attached.scheduler.close(reason);
    await attached.runner.dispose();
  }
}
