/**
 * A deterministic in-memory AttackEngine for the HTTP tests: no tensors, no models.
 * attack() moves every RGB value by +/- min(eps, 1) (sign alternates by byte index),
 * clamped to [0, 255]; classify() derives probabilities from the mean pixel value.
 * Every call's arguments are recorded so tests can check how the routes parsed input.
 */
import { unknownModel } from '../../src/errors';
import { JobAdmission, type AdmissionLimits, type JobKind, type JobTicket } from '../../src/engine/admission';
import type { AttackEngine, AttackOutcome, AttackParams, ClassifyOutcome, LabelProb } from '../../src/engine/types';
import type { RgbImage } from '../../src/images/types';
import type { ModelInfo } from '../../src/models/types';

export const FAKE_LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
export const FAKE_MODELS = ['fake_a', 'fake_b'];
/** Class ids parallel to FAKE_LABELS (for name resolution by class id). */
export const FAKE_CLASS_IDS = ['c_drawing', 'c_hentai', 'c_neutral', 'c_porn', 'c_sexy'];

export interface FakeEngineOptions {
  ready?: boolean;
  /** attack() waits this long (abortably) before answering. */
  attackDelayMs?: number;
  /**
   * Overrides classify(): the class a model predicts for an image (it then gets probability 0.6,
   * the others share the rest). Return undefined to fall back to the mean-pixel rule.
   */
  predict?: FakePredict;
  /** Other class names (ImageNet-style 'tabby, tabby cat'); class ids default to c0, c1, ... */
  labels?: string[];
  classIds?: string[];
  /** Job admission as the real engine's (src/engine/admission.ts); off (no reserve) when omitted. */
  admission?: AdmissionLimits;
}

export type FakePredict = (image: RgbImage, model: string) => number | undefined;

export class FakeEngine implements AttackEngine {
  ready: boolean;
  readonly backend = 'fake';
  attackDelayMs: number;
  predict?: FakePredict;
  readonly attackCalls: { image: RgbImage; params: AttackParams }[] = [];
  readonly classifyCalls: { image: RgbImage; opts: { models?: string[]; topK: number } }[] = [];

  /** The classes every fake model has (default FAKE_LABELS / FAKE_CLASS_IDS). */
  readonly classLabels: string[];
  readonly classIds: string[];

  readonly admission?: JobAdmission;
  reserve?: (kind: JobKind) => JobTicket;

  constructor(opts: FakeEngineOptions = {}) {
    if (opts.admission) {
      const admission = new JobAdmission(opts.admission);
      this.admission = admission;
      this.reserve = (kind) => admission.reserve(kind);
    }
    this.classLabels = opts.labels ?? FAKE_LABELS;
    this.classIds = opts.classIds ?? (opts.labels ? opts.labels.map((_, i) => `c${i}`) : FAKE_CLASS_IDS);
    this.ready = opts.ready ?? true;
    this.attackDelayMs = opts.attackDelayMs ?? 0;
    this.predict = opts.predict;
  }

  listModels(): ModelInfo[] {
    return FAKE_MODELS.map((id) => ({
      id,
      labels: [...this.classLabels],
      classIds: [...this.classIds],
      classes: this.classLabels.length,
      inputSize: [224, 224],
      inputRange: [0, 1],
      layout: 'NHWC',
      channelOrder: 'RGB',
      resize: 'squash',
      format: 'layers',
      quantization: 'none',
      source: 'fake',
      backend: this.backend,
    }));
  }

  labels(models?: string[]): string[] {
    for (const id of models ?? []) if (!FAKE_MODELS.includes(id)) throw unknownModel(id);
    return [...this.classLabels];
  }

  classes(models?: string[]): { labels: string[]; classIds?: string[] } {
    return { labels: this.labels(models), classIds: [...this.classIds] };
  }

  private probs(image: RgbImage, salt: number): number[] {
    let sum = 0;
    for (const v of image.rgb) sum += v;
    const mean = image.rgb.length ? sum / image.rgb.length : 0;
    const raw = this.classLabels.map((_, i) => 1 + ((Math.round(mean) + i * 7 + salt) % 11));
    const total = raw.reduce((a, b) => a + b, 0);
    return raw.map((r) => r / total);
  }

  private top(probs: number[], k: number): LabelProb[] {
    return probs
      .map((prob, index) => ({ index, label: this.classLabels[index], prob }))
      .sort((a, b) => b.prob - a.prob || a.index - b.index)
      .slice(0, k);
  }

  /** Runs `work` admitted as the real engine does: the caller's ticket held, or a slot of its own. */
  private async admitted<T>(kind: JobKind, ticket: JobTicket | undefined, pixels: number, work: () => Promise<T>): Promise<T> {
    if (!this.admission) return work();
    const job = ticket ?? this.admission.reserve(kind);
    if (ticket) job.hold();
    try {
      if (pixels > 0) job.claimPixels(pixels);
      return await work();
    } finally {
      job.release();
    }
  }

  async classify(image: RgbImage, opts: { models?: string[]; topK: number; ticket?: JobTicket }): Promise<ClassifyOutcome> {
    return this.admitted('classify', opts.ticket, 0, () => this.classifyNow(image, opts));
  }

  private async classifyNow(image: RgbImage, opts: { models?: string[]; topK: number }): Promise<ClassifyOutcome> {
    this.classifyCalls.push({ image, opts });
    const ids = opts.models ?? FAKE_MODELS;
    this.labels(ids);
    const forced = ids.map((id) => this.predict?.(image, id));
    if (forced.every((c) => c !== undefined)) {
      const perModel = forced.map((c) => this.classLabels.map((_, i) => (i === c ? 0.6 : 0.4 / (this.classLabels.length - 1))));
      const mean = this.classLabels.map((_, i) => perModel.reduce((a, p) => a + p[i], 0) / perModel.length);
      return {
        models: ids.map((id, m) => ({ id, top: this.top(perModel[m], opts.topK) })),
        ensemble: { top: this.top(mean, opts.topK) },
      };
    }
    return {
      models: ids.map((id, i) => ({ id, top: this.top(this.probs(image, i), opts.topK) })),
      ensemble: { top: this.top(this.probs(image, 99), opts.topK) },
    };
  }

  async attack(image: RgbImage, params: AttackParams): Promise<AttackOutcome> {
    return this.admitted('attack', params.ticket, image.width * image.height, () => this.attackNow(image, params));
  }

  private async attackNow(image: RgbImage, params: AttackParams): Promise<AttackOutcome> {
    this.attackCalls.push({ image, params });
    const ids = params.models ?? FAKE_MODELS;
    this.labels(ids);
    if (this.attackDelayMs > 0) await abortableDelay(this.attackDelayMs, params.signal);
    params.signal?.throwIfAborted();

    const step = Math.min(params.eps, 1);
    const rgb = new Uint8Array(image.rgb.length);
    let linf = 0;
    let sq = 0;
    for (let i = 0; i < rgb.length; i++) {
      const v = Math.max(0, Math.min(255, Math.round(image.rgb[i] + (i % 2 === 0 ? step : -step))));
      rgb[i] = v;
      const d = Math.abs(v - image.rgb[i]);
      linf = Math.max(linf, d);
      sq += d * d;
    }
    const target = params.target ?? 0;
    const before = { label: this.classLabels[2], prob: 0.9 };
    const after = { label: this.classLabels[target], prob: 0.8, targetProb: 0.8 };
    return {
      image: { width: image.width, height: image.height, rgb, alpha: image.alpha },
      method: params.method,
      eps: params.eps,
      iterations: params.iterations,
      stoppedEarly: false,
      targeted: params.targeted,
      target: { index: target, label: this.classLabels[target] },
      success: true,
      linf,
      l2: Math.sqrt(sq),
      elapsedMs: 1.5,
      models: ids.map((id) => ({ id, before, after })),
      ensemble: { before, after },
    };
  }
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
