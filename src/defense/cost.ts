/**
 * The work a defense request's transforms will take, estimated from the image sizes before any
 * transform runs, and the per-request budget on it. A work unit is about a millisecond of one
 * core (each transform's `cost` in src/defense/transforms/index.ts, fitted to timings on a
 * 2-core host): the estimate is of the order of the CPU time the request would take.
 */
import { badParam } from '../errors';
import type { Defense } from './parse';
import { TRANSFORMS } from './transforms';

/** Estimated work of a defense's chain on one image of `pixels` pixels, for a model of `inputSize` ([height, width]). */
export function chainWork(defense: Pick<Defense, 'transforms'>, pixels: number, inputSize: [number, number]): number {
  let work = 0;
  let px = pixels;
  for (const step of defense.transforms) {
    const def = TRANSFORMS[step.name];
    const out = def.outPixels ? def.outPixels(px, inputSize) : px;
    work += def.cost(step.param, px, out);
    px = out;
  }
  return work;
}

export interface WorkEstimate {
  total: number;
  /** Each defense's share, over all the images. */
  perDefense: Array<{ spec: string; work: number }>;
}

export function estimateWork(defenses: readonly Defense[], imagePixels: readonly number[], inputSizeOf: (model: string) => [number, number]): WorkEstimate {
  const perDefense = defenses.map((d) => {
    const size = inputSizeOf(d.model);
    return { spec: d.spec, work: imagePixels.reduce((sum, px) => sum + chainWork(d, px, size), 0) };
  });
  return { total: perDefense.reduce((sum, d) => sum + d.work, 0), perDefense };
}

const units = (w: number) => Math.ceil(w).toLocaleString('en-US');

/** A 400 naming `param` when the estimate is over the budget, with the numbers and the costliest defense. */
export function checkWorkBudget(estimate: WorkEstimate, imagePixels: readonly number[], budget: number, param = 'defenses'): void {
  if (estimate.total <= budget) return;
  const costliest = estimate.perDefense.reduce((a, b) => (b.work > a.work ? b : a));
  const n = imagePixels.length;
  const mpx = imagePixels.reduce((a, b) => a + b, 0) / 1e6;
  throw badParam(
    param,
    `The defenses' transforms would take an estimated ${units(estimate.total)} work units (about a millisecond of one core each) on ${n} image${n === 1 ? '' : 's'} ` +
      `of ${mpx.toFixed(2)} megapixels in all; the budget per request is ${units(budget)}. The costliest defense is ${costliest.spec} (${units(costliest.work)}). ` +
      'Send fewer or smaller images, or fewer or cheaper transforms.',
  );
}
