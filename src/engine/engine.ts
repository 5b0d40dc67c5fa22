/**
 * The engine behind the HTTP routes and the CLI: resident models, classification, and
 * attacks run through the shared loop in ./attacks. Attacks yield to the event loop between
 * iterations so that health checks and other requests are served while one runs.
 */
import * as tf from '@tensorflow/tfjs';
import { badParam, unknownModel } from '../errors';
import type { RgbImage } from '../images/types';
import { describe } from '../models/describe';
import type { LoadedModel } from '../models/registry';
import type { Classifier, ModelInfo } from '../models/types';
import type { AttackContext } from './attacks/base';
import { createAttack } from './attacks';
import { directionOracle, type Objective } from './objective';
import { distances, imageToTensor, roundIntoBox, tensorToImage } from './pixels';
import { seededRandom } from './random';
import type { AttackEngine, AttackOutcome, AttackParams, ClassifyOutcome, LabelProb } from './types';

export class AbortedError extends Error {
  constructor(readonly reason: unknown) {
    super('attack aborted');
    this.name = 'AbortedError';
  }
}

interface Probs {
  perModel: Float32Array[];
  ensemble: Float32Array;
}

const argmax = (p: Float32Array) => p.reduce((best, v, i) => (v > p[best] ? i : best), 0);
const argmin = (p: Float32Array) => p.reduce((best, v, i) => (v < p[best] ? i : best), 0);

export class Engine implements AttackEngine {
  private readonly models = new Map<string, LoadedModel>();
  private loaded = false;

  constructor(readonly backend: string) {}

  get ready(): boolean {
    return this.loaded;
  }

  /** Adds a loaded model (see ./bootstrap.ts) or a bare classifier (tests, tools). */
  add(model: LoadedModel | Classifier): void {
    const loaded: LoadedModel = 'classifier' in model ? model : { classifier: model, fallbacks: [], loadMs: 0 };
    const id = loaded.classifier.spec.id;
    if (this.models.has(id)) throw new Error(`two models share the id "${id}"`);
    this.models.set(id, loaded);
  }

  /** Marks the engine ready: /readyz turns 200 and attack routes accept work. */
  markReady(): void {
    if (this.models.size === 0) throw new Error('no models loaded');
    this.loaded = true;
  }

  listModels(): ModelInfo[] {
    return [...this.models.values()].map((m) => describe(m.classifier.spec, this.backend));
  }

  private select(ids?: string[]): Classifier[] {
    const chosen = ids && ids.length ? ids : [...this.models.keys()];
    const out = chosen.map((id) => {
      const m = this.models.get(id);
      if (!m) throw unknownModel(id);
      return m.classifier;
    });
    const labels = out[0].spec.labels.join('\u0000');
    const mixed = out.find((c) => c.spec.labels.join('\u0000') !== labels);
    if (mixed) {
      throw badParam('models', `models ${out[0].spec.id} and ${mixed.spec.id} have different label sets and cannot form an ensemble`);
    }
    return out;
  }

  labels(ids?: string[]): string[] {
    return this.select(ids)[0].spec.labels;
  }

  private probabilities(models: Classifier[], x: tf.Tensor4D): Probs {
    const perModel = models.map((m) => tf.tidy(() => tf.softmax(m.logits(x)).dataSync() as Float32Array));
    const ensemble = new Float32Array(perModel[0].length);
    for (const p of perModel) p.forEach((v, i) => (ensemble[i] += v / perModel.length));
    return { perModel, ensemble };
  }

  async classify(image: RgbImage, opts: { models?: string[]; topK: number }): Promise<ClassifyOutcome> {
    const models = this.select(opts.models);
    const labels = models[0].spec.labels;
    const x = imageToTensor(image);
    try {
      const probs = this.probabilities(models, x);
      const top = (p: Float32Array): LabelProb[] =>
        [...p]
          .map((prob, index) => ({ index, label: labels[index], prob }))
          .sort((a, b) => b.prob - a.prob)
          .slice(0, opts.topK);
      return { models: models.map((m, i) => ({ id: m.spec.id, top: top(probs.perModel[i]) })), ensemble: { top: top(probs.ensemble) } };
    } finally {
      x.dispose();
    }
  }

  async attack(image: RgbImage, params: AttackParams): Promise<AttackOutcome> {
    const started = Date.now();
    const models = this.select(params.models);
    const labels = models[0].spec.labels;
    if (!(params.eps > 0 && params.eps <= 64)) throw badParam('eps', 'eps must be in (0, 64] on the 0..255 scale');
    if (!(Number.isInteger(params.iterations) && params.iterations >= 1 && params.iterations <= 1000)) {
      throw badParam('iterations', 'iterations must be an integer in [1, 1000]');
    }
    const checkClass = (v: number | undefined, name: string) => {
      if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v < labels.length)) {
        throw badParam(name, `${name} must be a class index in [0, ${labels.length - 1}]`);
      }
    };
    checkClass(params.target, 'target');
    checkClass(params.label, 'label');
    if (params.targeted && params.target === undefined) throw badParam('target', 'a targeted attack needs a target');

    const attack = createAttack(params.method, { alpha: params.alpha, mu: params.mu });
    const clean = imageToTensor(image);
    const ctxTensors: tf.Tensor[] = [clean];
    try {
      const before = this.probabilities(models, clean);
      const cleanLabel = argmax(before.ensemble);
      let objective: Objective;
      if (params.targeted) objective = { cls: params.target!, towards: true };
      else if ((params.targetSelection ?? 'least-likely') === 'least-likely') objective = { cls: argmin(before.ensemble), towards: true };
      else objective = { cls: params.label ?? cleanLabel, towards: false };

      const lower = tf.tidy(() => tf.maximum(tf.sub(clean, params.eps), 0) as tf.Tensor4D);
      const upper = tf.tidy(() => tf.minimum(tf.add(clean, params.eps), 255) as tf.Tensor4D);
      ctxTensors.push(lower, upper);
      const ctx: AttackContext = {
        clean,
        lower,
        upper,
        eps: params.eps,
        iterations: attack.iterationsFor(params.iterations),
        random: seededRandom(params.seed ?? 0),
      };
      const between = async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (params.signal?.aborted) throw new AbortedError(params.signal.reason);
      };
      const raw = await attack.run(ctx, directionOracle(models, objective), between);
      const rounded = tf.tidy(() => roundIntoBox(raw, clean, params.eps));
      raw.dispose();
      ctxTensors.push(rounded);
      const out = await tensorToImage(rounded, image);
      const after = this.probabilities(models, rounded);
      const afterLabel = argmax(after.ensemble);
      // Untargeted success: the ensemble's label moved off the reference label.
      const reference = params.label ?? cleanLabel;
      const success = params.targeted ? afterLabel === objective.cls : afterLabel !== reference;
      const verdict = (p: Float32Array, q: Float32Array) => ({
        before: { label: labels[argmax(p)], prob: p[argmax(p)] },
        after: { label: labels[argmax(q)], prob: q[argmax(q)], targetProb: q[objective.cls] },
      });
      return {
        image: out,
        method: params.method,
        eps: params.eps,
        iterations: ctx.iterations,
        targeted: params.targeted,
        target: { index: objective.cls, label: labels[objective.cls] },
        success,
        ...distances(out.rgb, image.rgb),
        elapsedMs: Date.now() - started,
        models: models.map((m, i) => ({ id: m.spec.id, ...verdict(before.perModel[i], after.perModel[i]) })),
        ensemble: verdict(before.ensemble, after.ensemble),
      };
    } finally {
      for (const t of ctxTensors) t.dispose();
    }
  }

  dispose(): void {
    for (const m of this.models.values()) m.classifier.dispose();
    this.models.clear();
    this.loaded = false;
  }
}
