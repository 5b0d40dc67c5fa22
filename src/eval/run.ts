/**
 * The evaluation behind `advserve eval` (the seed's results table): every image is attacked
 * with every method, and every result is classified by every defense.
 *
 * - The clean label of an image is the prediction of the ensemble of ALL loaded models.
 * - Targeted: the target is drawn uniformly among the other classes, from a random stream
 *   seeded by (seed, file name), like the competition's fixed target_class.csv: the same
 *   seed gives the same targets whatever else is in the folder.
 * - Untargeted: the engine's default (aim at the attack ensemble's least likely class); a
 *   miss is still any prediction other than the clean label.
 * - A defense's random transforms (resize-pad) draw from (seed, file name, defense).
 */
import type { AttackEngine } from '../engine/types';
import { seededRandom } from '../engine/random';
import { DefenseTally, classifyDefended, defenseSeed, mixSeed, predictionOf } from '../defense/evaluate';
import type { Defense } from '../defense/parse';
import type { RgbImage } from '../images/types';
import type { MethodSpec } from './methods';

export interface EvalInput {
  name: string;
  load(): Promise<RgbImage>;
}

export interface EvalSettings {
  eps: number;
  iterations: number;
  /** Models the attacks use; all loaded models when undefined. */
  attackModels?: string[];
  methods: MethodSpec[];
  defenses: Defense[];
  targeted: boolean;
  seed: number;
  /** Images attacked at once; their gradient passes share batches (default 1). Results do not depend on it. */
  concurrency?: number;
}

export interface EvalRow {
  method: string;
  defense: string;
  n: number;
  /** Predictions equal to the target; null for untargeted runs. */
  hits: number | null;
  /** Predictions other than the clean label. */
  misses: number;
}

/** Targeted runs: one (method, defense) cell split by the target class. */
export interface EvalTargetRow {
  method: string;
  defense: string;
  target: string;
  /** Images with this target. */
  n: number;
  hits: number;
}

/** What one defense predicted for one image after one method. */
export interface EvalPrediction {
  image: string;
  method: string;
  defense: string;
  label: string;
  prob: number;
  /** Targeted runs: the defense's probability of the target (how close a miss came). */
  targetProb?: number;
}

export interface EvalImageInfo {
  name: string;
  label: string;
  target?: string;
}

export interface EvalMeta {
  command: string;
  date: string;
  imagesDir?: string;
  n: number;
  eps: number;
  iterations: number;
  targeted: boolean;
  seed: number;
  attackModels: string[];
  /** The models whose ensemble gave the clean labels. */
  labelModels: string[];
  backend: string;
  images: EvalImageInfo[];
}

export interface EvalReport {
  rows: EvalRow[];
  /**
   * Targeted runs only (else empty): hits per target class, in class order. Which targets a
   * defense can be pushed to is most of the story of transfer (see docs/RESULTS.md).
   */
  byTarget: EvalTargetRow[];
  /** Every defense's prediction for every image and method, images in input order. */
  predictions: EvalPrediction[];
  /** Attack wall time per image, seconds, per method. */
  secondsPerImage: Record<string, number>;
  meta: EvalMeta;
  /** Items that could not be computed (dataset jobs: an image that does not decode); absent when there are none. */
  errors?: EvalItemError[];
}

export interface EvalProgress {
  done: number;
  total: number;
  image: string;
  method: string;
  /** This attack's wall time. */
  seconds: number;
  /** The image's clean label and (targeted) target. */
  clean: string;
  target?: string;
  /** Each defense's top label for this attack's output, so that a log of progress lines holds the results too. */
  predictions: Array<{ defense: string; label: string }>;
}

/** The target for an image: uniform among the classes other than its clean label. */
export function pickTarget(seed: number, name: string, clean: number, classes: number): number {
  const others = Array.from({ length: classes }, (_, i) => i).filter((i) => i !== clean);
  return others[Math.floor(seededRandom(mixSeed('target', seed, name))() * others.length)];
}

/** What every item of one evaluation shares: the label models, their classes, the attack models. */
export interface EvalContext {
  /** The models whose ensemble gives the clean labels (all loaded models for `advserve eval`). */
  labelModels: string[];
  labels: string[];
  attackModels: string[];
}

/** The context of an evaluation on this engine; unknown attack models and mixed label sets fail here, before any work. */
export function evalContext(engine: AttackEngine, attackModels?: string[], labelModels?: string[]): EvalContext {
  const label = labelModels ?? engine.listModels().map((m) => m.id);
  const labels = engine.labels(label);
  const attack = attackModels ?? label;
  engine.labels(attack);
  return { labelModels: label, labels, attackModels: attack };
}

/** One image's clean label and (targeted) target: given, or the label models' prediction and the seeded draw. */
export interface ImageVerdict {
  info: EvalImageInfo;
  clean: number;
  target?: number;
}

export async function imageVerdict(
  engine: AttackEngine,
  ctx: EvalContext,
  settings: Pick<EvalSettings, 'targeted' | 'seed'>,
  name: string,
  image: RgbImage,
  given: { label?: number; target?: number } = {},
): Promise<ImageVerdict> {
  // All loaded models (advserve eval) are the engine's default ensemble; a job names its own.
  const all = engine.listModels().map((m) => m.id);
  const models = all.join(',') === ctx.labelModels.join(',') ? undefined : ctx.labelModels;
  const clean = given.label ?? (await engine.classify(image, { ...(models ? { models } : {}), topK: 1 })).ensemble.top[0].index;
  const target = settings.targeted ? (given.target ?? pickTarget(settings.seed, name, clean, ctx.labels.length)) : undefined;
  return { info: { name, label: ctx.labels[clean], ...(target !== undefined ? { target: ctx.labels[target] } : {}) }, clean, target };
}

/** One defense's top-1 for an item: class index, label, probability, and (targeted) its probability of the target. */
export interface ItemPrediction {
  index: number;
  label: string;
  prob: number;
  targetProb?: number;
}

/** The result of one (image, method) item: what the report needs from it, and the adversarial image. */
export interface ItemOutcome {
  /** The attack's wall time, seconds (0 for `none`). */
  seconds: number;
  /** One per defense, in the settings' order. */
  predictions: ItemPrediction[];
  adversarial: RgbImage;
}

/** Attacks one image with one method and classifies the result under every defense. */
export async function evalItem(
  engine: AttackEngine,
  ctx: EvalContext,
  settings: Omit<EvalSettings, 'methods' | 'concurrency' | 'attackModels'>,
  name: string,
  image: RgbImage,
  verdict: ImageVerdict,
  method: MethodSpec,
  signal?: AbortSignal,
): Promise<ItemOutcome> {
  let adversarial = image;
  const started = performance.now();
  if (method.params) {
    const out = await engine.attack(image, {
      ...method.params,
      eps: settings.eps,
      iterations: settings.iterations,
      models: ctx.attackModels,
      targeted: settings.targeted,
      ...(verdict.target !== undefined ? { target: verdict.target } : { label: verdict.clean }),
      seed: settings.seed,
      ...(signal ? { signal } : {}),
    });
    adversarial = out.image;
  }
  const seconds = method.params ? (performance.now() - started) / 1000 : 0;
  const predictions: ItemPrediction[] = [];
  for (const defense of settings.defenses) {
    signal?.throwIfAborted();
    const classified = await classifyDefended(engine, adversarial, defense, defenseSeed(settings.seed, name, defense.spec));
    const { index, label, prob, targetProb } = predictionOf(classified, 0, undefined, verdict.target);
    predictions.push({ index, label, prob, ...(targetProb !== undefined ? { targetProb } : {}) });
  }
  return { seconds, predictions, adversarial };
}

/** An item that could not be computed (an image that does not decode, say): its reason goes in the report. */
export interface EvalItemError {
  image: string;
  method: string;
  reason: string;
}

/** Everything the report is assembled from: per image (input order) its verdict and, per method, its outcome. */
export interface EvalResults {
  images: Array<{ verdict: ImageVerdict; items: Array<Pick<ItemOutcome, 'seconds' | 'predictions'> | undefined> }>;
  errors?: EvalItemError[];
}

/** The report of an evaluation from its items' results (in image order, so it does not depend on the order they ran in). */
export function assembleReport(
  ctx: EvalContext,
  settings: Omit<EvalSettings, 'concurrency' | 'attackModels'>,
  results: EvalResults,
  meta: { command: string; date: string; imagesDir?: string; backend: string },
): EvalReport {
  const { labels } = ctx;
  const tallies = settings.methods.map(() => settings.defenses.map((d) => new DefenseTally(d.spec)));
  const attackSeconds = settings.methods.map(() => 0);
  const images: EvalImageInfo[] = [];
  const predictions: EvalPrediction[] = [];
  for (const { verdict, items } of results.images) {
    images.push(verdict.info);
    for (const [m, item] of items.entries()) {
      if (!item) continue;
      attackSeconds[m] += item.seconds;
      for (const [d, p] of item.predictions.entries()) {
        tallies[m][d].add({ image: images.length - 1, name: verdict.info.name, ...p }, verdict.clean, verdict.target);
        const { label, prob, targetProb } = p;
        predictions.push({ image: verdict.info.name, method: settings.methods[m].name, defense: settings.defenses[d].spec, label, prob, ...(targetProb !== undefined ? { targetProb } : {}) });
      }
    }
  }
  const byTarget: EvalTargetRow[] = settings.methods.flatMap((method, m) =>
    tallies[m].flatMap((tally) => tally.byTarget().map(({ target, n, hits }) => ({ method: method.name, defense: tally.defense, target: labels[target], n, hits }))),
  );

  const rows: EvalRow[] = [];
  for (const [m, method] of settings.methods.entries()) {
    for (const tally of tallies[m]) {
      const r = tally.result();
      rows.push({ method: method.name, defense: r.defense, n: r.n, hits: r.hits, misses: r.misses });
    }
  }
  const n = images.length;
  return {
    rows,
    byTarget,
    predictions,
    secondsPerImage: Object.fromEntries(settings.methods.map((method, m) => [method.name, n ? attackSeconds[m] / n : 0])),
    meta: {
      command: meta.command,
      date: meta.date,
      ...(meta.imagesDir !== undefined ? { imagesDir: meta.imagesDir } : {}),
      n,
      eps: settings.eps,
      iterations: settings.iterations,
      targeted: settings.targeted,
      seed: settings.seed,
      attackModels: ctx.attackModels,
      labelModels: ctx.labelModels,
      backend: meta.backend,
      images,
    },
    ...(results.errors?.length ? { errors: results.errors } : {}),
  };
}

export async function runEval(
  engine: AttackEngine,
  inputs: EvalInput[],
  settings: EvalSettings,
  opts: { onProgress?: (p: EvalProgress) => void; command?: string; imagesDir?: string; now?: () => Date } = {},
): Promise<EvalReport> {
  const ctx = evalContext(engine, settings.attackModels);
  const date = (opts.now ?? (() => new Date()))().toISOString();
  const total = inputs.length * settings.methods.length;
  let done = 0;
  const perImage: EvalResults['images'] = new Array(inputs.length);

  const evaluate = async (i: number) => {
    const input = inputs[i];
    const image = await input.load();
    const verdict = await imageVerdict(engine, ctx, settings, input.name, image);
    const items: ItemOutcome[] = [];
    for (const method of settings.methods) {
      const item = await evalItem(engine, ctx, settings, input.name, image, verdict, method);
      items.push(item);
      const predictions = item.predictions.map((p, d) => ({ defense: settings.defenses[d].spec, label: p.label }));
      opts.onProgress?.({ done: ++done, total, image: input.name, method: method.name, seconds: item.seconds, clean: verdict.info.label, target: verdict.info.target, predictions });
    }
    perImage[i] = { verdict, items };
  };

  // A few images in flight at once keep every worker busy; each image's results are its own.
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(settings.concurrency ?? 1, inputs.length)) }, async () => {
    while (next < inputs.length) await evaluate(next++);
  });
  await Promise.all(lanes);

  return assembleReport(ctx, settings, { images: perImage }, { command: opts.command ?? '', date, imagesDir: opts.imagesDir, backend: engine.backend });
}
