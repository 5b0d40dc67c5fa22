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

export async function runEval(
  engine: AttackEngine,
  inputs: EvalInput[],
  settings: EvalSettings,
  opts: { onProgress?: (p: EvalProgress) => void; command?: string; imagesDir?: string; now?: () => Date } = {},
): Promise<EvalReport> {
  const labelModels = engine.listModels().map((m) => m.id);
  const labels = engine.labels();
  const attackModels = settings.attackModels ?? labelModels;
  engine.labels(attackModels); // unknown ids and mixed label sets fail before any work
  const date = (opts.now ?? (() => new Date()))().toISOString();
  const tallies = settings.methods.map(() => settings.defenses.map((d) => new DefenseTally(d.spec)));
  const attackSeconds = settings.methods.map(() => 0);
  const total = inputs.length * settings.methods.length;
  let done = 0;

  type Outcome = { m: number; d: number; classified: Awaited<ReturnType<typeof classifyDefended>> };
  const perImage: { info: EvalImageInfo; clean: number; target?: number; outcomes: Outcome[] }[] = new Array(inputs.length);

  const evaluate = async (i: number) => {
    const input = inputs[i];
    const image = await input.load();
    const clean = (await engine.classify(image, { topK: 1 })).ensemble.top[0].index;
    const target = settings.targeted ? pickTarget(settings.seed, input.name, clean, labels.length) : undefined;
    const info = { name: input.name, label: labels[clean], ...(target !== undefined ? { target: labels[target] } : {}) };
    const outcomes: Outcome[] = [];
    for (const [m, method] of settings.methods.entries()) {
      let adversarial = image;
      const started = performance.now();
      if (method.params) {
        const out = await engine.attack(image, {
          ...method.params,
          eps: settings.eps,
          iterations: settings.iterations,
          models: attackModels,
          targeted: settings.targeted,
          ...(target !== undefined ? { target } : { label: clean }),
          seed: settings.seed,
        });
        adversarial = out.image;
      }
      const seconds = method.params ? (performance.now() - started) / 1000 : 0;
      attackSeconds[m] += seconds;
      const predictions: EvalProgress['predictions'] = [];
      for (const [d, defense] of settings.defenses.entries()) {
        const classified = await classifyDefended(engine, adversarial, defense, defenseSeed(settings.seed, input.name, defense.spec));
        outcomes.push({ m, d, classified });
        predictions.push({ defense: defense.spec, label: classified.top.label });
      }
      opts.onProgress?.({ done: ++done, total, image: input.name, method: method.name, seconds, clean: info.label, target: info.target, predictions });
    }
    perImage[i] = { info, clean, target, outcomes };
  };

  // A few images in flight at once keep every worker busy; each image's results are its own.
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(settings.concurrency ?? 1, inputs.length)) }, async () => {
    while (next < inputs.length) await evaluate(next++);
  });
  await Promise.all(lanes);

  // Tally in image order, so the report is the same whatever the concurrency.
  const images: EvalImageInfo[] = [];
  const predictions: EvalPrediction[] = [];
  for (const r of perImage) {
    images.push(r.info);
    for (const { m, d, classified } of r.outcomes) {
      const p = predictionOf(classified, images.length - 1, r.info.name, r.target);
      tallies[m][d].add(p, r.clean, r.target);
      const { label, prob, targetProb } = p;
      predictions.push({ image: r.info.name, method: settings.methods[m].name, defense: settings.defenses[d].spec, label, prob, ...(targetProb !== undefined ? { targetProb } : {}) });
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
  const n = inputs.length;
  return {
    rows,
    byTarget,
    predictions,
    secondsPerImage: Object.fromEntries(settings.methods.map((method, m) => [method.name, n ? attackSeconds[m] / n : 0])),
    meta: {
      command: opts.command ?? '',
      date,
      ...(opts.imagesDir !== undefined ? { imagesDir: opts.imagesDir } : {}),
      n,
      eps: settings.eps,
      iterations: settings.iterations,
      targeted: settings.targeted,
      seed: settings.seed,
      attackModels,
      labelModels,
      backend: engine.backend,
      images,
    },
  };
}
