/**
 * Concurrent attacks against the same attacks in sequence, on one engine: `jobs` targeted
 * mng-l1 attacks (different images and targets, eps 16) run one after another, then all at
 * once, so that the scheduler batches their gradient passes. Every output's sha256 is kept:
 * the same job must give the same bytes whether it ran alone or batched with others.
 * Used by `npm run bench` (a section per model set) and `npm run bench:concurrency`.
 */
import { createHash } from 'node:crypto';
import type { Engine } from '../src/engine/engine';
import type { RgbImage } from '../src/images/types';

export interface ConcurrencyMode {
  wallMs: number;
  latenciesMs: number[];
  /** Mean images per batched model pass in this mode (the engine's batch-size metric). */
  meanBatch: number;
  successes: number;
  /** sha256 of each job's output pixels, in job order. */
  outputSha256: string[];
}

export interface ConcurrencyResult {
  jobs: number;
  iterations: number;
  models: string[];
  sequential: ConcurrencyMode;
  concurrent: ConcurrencyMode;
  /** Sequential wall / concurrent wall: > 1 means batching paid. */
  throughputRatio: number;
  /** Every job gave the same bytes in both modes. */
  identical: boolean;
  /** jobs x iterations / concurrent wall, s^-1. */
  concurrentImageStepsPerS: number;
}

/** Targets cycle over these class indices by default (valid for the 5 nsfwjs classes and for ImageNet). */
const TARGETS = [0, 1, 3, 4];

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

interface Jobs {
  images: RgbImage[];
  iterations: number;
  models?: string[];
  targets: number[];
}

async function mode(engine: Engine, { images, iterations, models, targets }: Jobs, concurrent: boolean): Promise<ConcurrencyMode> {
  const before = { n: engine.metrics.batchSize.total, mean: engine.metrics.batchSize.mean };
  const one = async (img: RgbImage, i: number) => {
    const t0 = performance.now();
    const out = await engine.attack(img, { method: 'mng-l1', eps: 16, iterations, targeted: true, target: targets[i % targets.length], models, seed: i });
    return { ms: performance.now() - t0, success: out.success, sha: createHash('sha256').update(out.image.rgb).digest('hex') };
  };
  const t0 = performance.now();
  const results = concurrent ? await Promise.all(images.map(one)) : [];
  if (!concurrent) for (const [i, img] of images.entries()) results.push(await one(img, i));
  const wallMs = performance.now() - t0;
  const after = { n: engine.metrics.batchSize.total, mean: engine.metrics.batchSize.mean };
  // Mean batch size of this mode alone, from the running totals.
  const meanBatch = (after.mean * after.n - before.mean * before.n) / Math.max(1, after.n - before.n);
  return {
    wallMs,
    latenciesMs: results.map((r) => r.ms),
    meanBatch,
    successes: results.filter((r) => r.success).length,
    outputSha256: results.map((r) => r.sha),
  };
}

/**
 * `images.length` attacks of `iterations` iterations, sequential then concurrent, after untimed
 * 1-iteration attacks alone and all at once (first-call set-up of the batch sizes both modes
 * run). models: the engine's default when absent; job i aims at targets[i % targets.length].
 */
export async function runConcurrency(
  engine: Engine,
  images: RgbImage[],
  iterations: number,
  models?: string[],
  targets: number[] = TARGETS,
): Promise<ConcurrencyResult> {
  const warm = (img: RgbImage) => engine.attack(img, { method: 'mng-l1', eps: 16, iterations: 1, targeted: true, target: 0, models });
  await warm(images[0]);
  await Promise.all(images.map(warm));
  const jobs = { images, iterations, models, targets };
  const sequential = await mode(engine, jobs, false);
  const concurrent = await mode(engine, jobs, true);
  return {
    jobs: images.length,
    iterations,
    models: models ?? engine.listModels().map((m) => m.id),
    sequential,
    concurrent,
    throughputRatio: sequential.wallMs / concurrent.wallMs,
    identical: sequential.outputSha256.every((h, i) => h === concurrent.outputSha256[i]),
    concurrentImageStepsPerS: (images.length * iterations * 1000) / concurrent.wallMs,
  };
}
