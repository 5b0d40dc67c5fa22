/**
 * Classifies (adversarial) images under defenses and counts, per defense, how often the
 * prediction hit the attack's target and how often it missed the clean label.
 */
import type { AttackEngine } from '../engine/types';
import type { RgbImage } from '../images/types';
import { inProcess, type ChainRunner } from './chain';
import type { Defense } from './parse';

export interface EvalImage {
  image: RgbImage;
  /** Clean label (class index). */
  label: number;
  /** The attack's target class (targeted attacks only). */
  target?: number;
  /** A name for results (file name); the position when absent. */
  name?: string;
}

export interface Prediction {
  /** Position of the image in the request. */
  image: number;
  name?: string;
  index: number;
  label: string;
  prob: number;
  /** The defense's probability of the image's target, when it has one. */
  targetProb?: number;
}

export interface DefenseResult {
  defense: string;
  n: number;
  /** Predictions equal to the target, over the images that have one; null when none has. */
  hits: number | null;
  /** Predictions different from the clean label. */
  misses: number;
  hitRate: number | null;
  missRate: number;
  predictions: Prediction[];
}

/** FNV-1a over the parts: a 32-bit seed per (run seed, image, defense), so draws do not depend on order. */
export function mixSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  const s = parts.join('\u0000');
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The seed of the random stream one (image, defense) pair gets under a run seed. */
export const defenseSeed = (seed: number, imageKey: string | number, defense: string) => mixSeed('defense', seed, imageKey, defense);

export function modelInputSize(engine: AttackEngine, model: string): [number, number] {
  const info = engine.listModels().find((m) => m.id === model);
  return info ? info.inputSize : [299, 299];
}

export interface DefendOptions {
  /** Where the transforms run (default: on this thread). */
  run?: ChainRunner;
  signal?: AbortSignal;
}

/** The defense's top class for an image (its transforms seeded by `seed`), and its probability of every class (by class index). */
export async function classifyDefended(engine: AttackEngine, image: RgbImage, defense: Defense, seed: number, opts: DefendOptions = {}) {
  const run = opts.run ?? inProcess;
  const input = defense.transforms.length === 0 ? image : await run({ image, steps: defense.transforms, seed, inputSize: modelInputSize(engine, defense.model) }, opts.signal);
  const classes = engine.labels([defense.model]).length;
  const ranked = (await engine.classify(input, { models: [defense.model], topK: classes })).ensemble.top;
  const probs = new Array<number>(classes).fill(0);
  for (const r of ranked) probs[r.index] = r.prob;
  return { top: ranked[0], probs };
}

/** One image's Prediction from classifyDefended's answer; with a target, its probability too. */
export function predictionOf(
  classified: Awaited<ReturnType<typeof classifyDefended>>,
  image: number,
  name: string | undefined,
  target: number | undefined,
): Prediction {
  const { top, probs } = classified;
  return {
    image,
    ...(name !== undefined ? { name } : {}),
    index: top.index,
    label: top.label,
    prob: top.prob,
    ...(target !== undefined ? { targetProb: probs[target] } : {}),
  };
}

/** Running counts for one defense. */
export class DefenseTally {
  private hits = 0;
  private targeted = 0;
  private misses = 0;
  /** Target class index -> images aimed at it, and hits among them. */
  private readonly perTarget = new Map<number, { n: number; hits: number }>();
  readonly predictions: Prediction[] = [];

  constructor(readonly defense: string) {}

  add(p: Prediction, label: number, target?: number): void {
    this.predictions.push(p);
    if (p.index !== label) this.misses++;
    if (target !== undefined) {
      const hit = p.index === target;
      this.targeted++;
      if (hit) this.hits++;
      const cell = this.perTarget.get(target) ?? { n: 0, hits: 0 };
      cell.n++;
      if (hit) cell.hits++;
      this.perTarget.set(target, cell);
    }
  }

  /** Hits split by target class, in class order (targets no image had are left out). */
  byTarget(): Array<{ target: number; n: number; hits: number }> {
    return [...this.perTarget].sort(([a], [b]) => a - b).map(([target, c]) => ({ target, ...c }));
  }

  result(): DefenseResult {
    const n = this.predictions.length;
    return {
      defense: this.defense,
      n,
      hits: this.targeted ? this.hits : null,
      misses: this.misses,
      hitRate: this.targeted ? this.hits / this.targeted : null,
      missRate: n ? this.misses / n : 0,
      predictions: this.predictions,
    };
  }
}

export interface EvaluateOptions {
  /** Seeds the random transforms (resize-pad); default 0. */
  seed?: number;
  /** Checked between classifications, and passed to the transforms' runner. */
  signal?: AbortSignal;
  /** Where the transforms run (default: on this thread). */
  run?: ChainRunner;
}

export async function evaluateDefenses(engine: AttackEngine, images: EvalImage[], defenses: Defense[], opts: EvaluateOptions = {}): Promise<DefenseResult[]> {
  const seed = opts.seed ?? 0;
  const tallies = defenses.map((d) => new DefenseTally(d.spec));
  for (const [d, defense] of defenses.entries()) {
    for (const [i, item] of images.entries()) {
      opts.signal?.throwIfAborted();
      const classified = await classifyDefended(engine, item.image, defense, defenseSeed(seed, i, defense.spec), { run: opts.run, signal: opts.signal });
      tallies[d].add(predictionOf(classified, i, item.name, item.target), item.label, item.target);
    }
  }
  return tallies.map((t) => t.result());
}
