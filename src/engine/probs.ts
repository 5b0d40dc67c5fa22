/** The models' class probabilities for one image, and the ensemble's (their mean). */
import type { RgbImage } from '../images/types';
import type { BatchScheduler } from './scheduler';

export interface Probs {
  perModel: Float32Array[];
  ensemble: Float32Array;
}

export function withEnsemble(perModel: Float32Array[]): Probs {
  const ensemble = new Float32Array(perModel[0].length);
  for (const p of perModel) p.forEach((v, i) => (ensemble[i] += v / perModel.length));
  return { perModel, ensemble };
}

export const argmax = (p: Float32Array) => p.reduce((best, v, i) => (v > p[best] ? i : best), 0);
export const argmin = (p: Float32Array) => p.reduce((best, v, i) => (v < p[best] ? i : best), 0);

/** One forward pass per model (runner keys `keys`), through the scheduler's batches. */
export async function probabilitiesOf(
  scheduler: BatchScheduler,
  keys: string[],
  img: RgbImage | { data: Float32Array; width: number; height: number },
  signal?: AbortSignal,
): Promise<Probs> {
  const image = 'rgb' in img ? Float32Array.from(img.rgb) : img.data;
  const req = { image, height: img.height, width: img.width };
  return withEnsemble(await Promise.all(keys.map((key) => scheduler.probabilities(key, req, signal))));
}
