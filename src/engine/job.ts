/**
 * One attack job: it owns the attack's state from start to verdict: the method instance, the
 * criterion (./criterion), the eps-box around the clean image, the clean prediction (from the
 * first gradient pass where the criterion allows), the progress reports, and cancellation. Each
 * step asks the scheduler for one direction per model (and per probe); the scheduler batches
 * them with other jobs'. The engine (./engine) picks the models, admits the job and runs it.
 */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/types';
import type { ModelSpec } from '../models/types';
import type { AttackContext, DirectionOracle, IterativeAttack } from './attacks/base';
import { DI_DEFAULTS } from './attacks/modifiers';
import { criterionFor, needsCleanPrediction, type Criterion } from './criterion';
import type { GradRequest } from './gradients';
import { splitGradProbs } from './gradients';
import { float32Values, tensorOfCopy } from '../backend/tensor-values';
import { distances, epsBox, imageToTensor, roundIntoBox, tensorToImage } from './pixels';
import { argmax, probabilitiesOf, withEnsemble, type Probs } from './probs';
import { seededRandom } from './random';
import type { BatchScheduler } from './scheduler';
import type { AttackOutcome, AttackParams, AttackProgress } from './types';
import type { ValidAttack } from './validate';

export class AbortedError extends Error {
  constructor(readonly reason: unknown) {
    super('attack aborted');
    this.name = 'AbortedError';
  }
}

/** A model as the job sees it: the runner key its passes go to, and its spec. */
export interface JobModel {
  key: string;
  spec: ModelSpec;
}

/** The per-model score the gradient passes follow (GradRequest's loss fields). */
function lossFields(options: Record<string, unknown>): Pick<GradRequest, 'logit' | 'margin'> {
  if (options.loss === 'logit') return { logit: true };
  if (options.loss === 'margin') return { margin: options.kappa as number };
  return {};
}

export class AttackJob {
  private readonly attack: IterativeAttack;
  private readonly labels: string[];
  private readonly signal?: AbortSignal;
  /** The clean prediction, once known. */
  private clean?: Probs;
  private criterion?: Criterion;
  /** The method's options and modifiers, validated, defaults filled in. */
  private readonly options: Record<string, unknown>;
  /** early_stop: consecutive judged iterations whose image met the goal so far, and the last judged iteration. */
  private readonly earlyStop: number;
  private streak = 0;
  private judged = -1;
  /** What every step's requests reuse (see stepBuffers). */
  private shared?: { image: Float32Array; results: Float32Array[] };

  constructor(
    private readonly image: RgbImage,
    private readonly params: AttackParams,
    private readonly models: JobModel[],
    valid: ValidAttack,
    private readonly scheduler: BatchScheduler,
  ) {
    const { definition, options } = valid;
    this.options = options;
    const own = Object.fromEntries(Object.keys(definition.options.properties).filter((k) => k in options).map((k) => [k, options[k]]));
    this.attack = definition.create(own);
    this.attack.modifiers = { di: options.di ? DI_DEFAULTS : undefined, ti: (options.ti as number) || undefined };
    this.labels = models[0].spec.labels;
    this.signal = params.signal;
    this.earlyStop = (options.early_stop as number | undefined) ?? 0;
  }

  /** Cancellation: throws AbortedError once the signal fired (checked before every pass). */
  private checkCancelled(): void {
    if (this.signal?.aborted) throw new AbortedError(this.signal.reason);
  }

  private probabilities(img: RgbImage | { data: Float32Array; width: number; height: number }): Promise<Probs> {
    return probabilitiesOf(
      this.scheduler,
      this.models.map((m) => m.key),
      img,
      this.signal,
    );
  }

  private report(iteration: number, iterations: number, p: Probs): void {
    if (!this.params.onProgress) return;
    const target = this.criterion!.cls;
    const labels = this.labels;
    const view = (q: Float32Array) => ({ label: labels[argmax(q)], prob: q[argmax(q)], targetProb: q[target] });
    const progress: AttackProgress = {
      iteration,
      iterations,
      target: { index: target, label: labels[target] },
      models: this.models.map((m, i) => ({ id: m.spec.id, ...view(p.perModel[i]) })),
      ensemble: view(p.ensemble),
    };
    this.params.onProgress(progress);
  }

  /**
   * One image and one result per model, in SharedArrayBuffers, reused by every step (probes
   * excepted, several of which are out at once): the image crosses to the workers and the results
   * come back without a copy, where fresh 2.4 MB buffers per step and model cost page faults and
   * garbage collections. A step's buffers are free again once its directions are in, before the
   * next step writes them.
   */
  private stepBuffers(): { image: Float32Array; results: Float32Array[] } {
    const n = this.image.width * this.image.height * 3;
    const floats = (count: number) => new Float32Array(new SharedArrayBuffer(count * Float32Array.BYTES_PER_ELEMENT));
    return (this.shared ??= { image: floats(n), results: this.models.map((m) => floats(n + m.spec.labels.length)) });
  }

  /**
   * The directions at x for each model. The first pass also returns the clean prediction when
   * the criterion did not need it before (its forward pass computes it anyway: one forward pass
   * per model less); it cannot when step 0 has a diverse-inputs draw.
   */
  private oracle(iterations: number): DirectionOracle {
    const { image, models } = this;
    const criterion = this.criterion!;
    const loss = lossFields(this.options);
    return async (x, iteration, diverse, probe) => {
      this.checkCancelled();
      const shared = probe ? undefined : this.stepBuffers();
      if (shared) shared.image.set(float32Values(x));
      const pixels = shared ? shared.image : ((await x.data()) as Float32Array);
      const first = !probe && this.clean === undefined && iteration === 0 && diverse === undefined;
      // Progress and early stopping need every step's probabilities; the gradient pass computes them anyway.
      const withProbs = first || (!probe && (this.params.onProgress !== undefined || this.earlyStop > 0));
      const req = { image: pixels, height: image.height, width: image.width, cls: criterion.cls, towards: criterion.towards, diverse, withProbs, ...loss };
      const probs: Float32Array[] = [];
      // One promise per model, so that the attack can start on each model's direction while the others run.
      return models.map((m, i) =>
        this.scheduler.direction(m.key, shared ? { ...req, out: withProbs ? shared.results[i] : shared.results[i].subarray(0, shared.image.length) } : req, this.signal).then((result) => {
          let grad = result;
          if (withProbs) {
            const split = splitGradProbs(result, req);
            grad = split.grad;
            // Copied: the clean prediction outlives the buffer it arrived in.
            probs[i] = split.probs.slice();
            if (probs.filter(Boolean).length === models.length) {
              const all = withEnsemble(probs);
              if (first) this.clean = all;
              this.report(iteration, iterations, all);
              if (diverse === undefined) this.judge(iteration, all);
            }
          }
          return tensorOfCopy(grad, [1, image.height, image.width, 3]);
        }),
      );
    };
  }

  /**
   * early_stop: counts the consecutive iterations whose image (as the step's own pass saw it)
   * met the goal. Iterations with a diverse-inputs draw are not judged: their passes saw a
   * transformed image.
   */
  private judge(iteration: number, p: Probs): void {
    if (this.earlyStop === 0) return;
    const cleanLabel = this.clean ? argmax(this.clean.ensemble) : -1; // only LeastLikely reads it, and it has the clean prediction
    this.streak = this.criterion!.succeeded(argmax(p.ensemble), cleanLabel) ? this.streak + 1 : 0;
    this.judged = iteration;
  }

  /** Asked before iteration i's step: stop when the goal has held for early_stop judged iterations, the last being i. */
  private shouldStop(iteration: number): boolean {
    return this.earlyStop > 0 && this.judged === iteration && this.streak >= this.earlyStop;
  }

  async run(): Promise<AttackOutcome> {
    const started = Date.now();
    const { image, params, labels, models } = this;
    if (needsCleanPrediction(params)) this.clean = await this.probabilities(image);
    const criterion = (this.criterion = criterionFor(params, this.clean));

    const clean = imageToTensor(image);
    const { lower, upper } = tf.tidy(() => epsBox(clean, params.eps));
    const owned: tf.Tensor[] = [clean, lower, upper];
    try {
      const ctx: AttackContext = {
        clean,
        lower,
        upper,
        eps: params.eps,
        iterations: this.attack.iterationsFor(params.iterations),
        random: seededRandom(params.seed ?? 0),
      };
      let steps = ctx.iterations;
      const stop = (i: number) => {
        if (!this.shouldStop(i)) return false;
        steps = i;
        return true;
      };
      const raw = await this.attack.run(ctx, this.oracle(ctx.iterations), stop);
      tf.dispose([lower, upper]); // not needed from here on: two full-size tensors less during the rounding
      const cleanProbs = this.clean ?? (await this.probabilities(image));
      const cleanLabel = argmax(cleanProbs.ensemble);
      const rounded = tf.tidy(() => roundIntoBox(raw, clean, params.eps));
      raw.dispose();
      owned.push(rounded);
      const out = await tensorToImage(rounded, image);
      const after = await this.probabilities(out);
      this.report(steps, steps, after);
      const afterLabel = argmax(after.ensemble);
      const verdict = (p: Float32Array, q: Float32Array) => ({
        before: { label: labels[argmax(p)], prob: p[argmax(p)] },
        after: { label: labels[argmax(q)], prob: q[argmax(q)], targetProb: q[criterion.cls] },
      });
      return {
        image: out,
        method: params.method,
        eps: params.eps,
        iterations: steps,
        stoppedEarly: steps < ctx.iterations,
        targeted: params.targeted,
        target: { index: criterion.cls, label: labels[criterion.cls] },
        success: criterion.succeeded(afterLabel, cleanLabel),
        ...distances(out.rgb, image.rgb),
        elapsedMs: Date.now() - started,
        models: models.map((m, i) => ({ id: m.spec.id, ...verdict(cleanProbs.perModel[i], after.perModel[i]) })),
        ensemble: verdict(cleanProbs.ensemble, after.ensemble),
      };
    } finally {
      for (const t of owned) t.dispose();
    }
  }
}
