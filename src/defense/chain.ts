/**
 * Running one defense's transforms on one image, left to right. The same function runs in
 * process (the eval CLI, tests) and on the service's transform threads (src/defense/pool), so
 * both give the same bytes; its random draws come from a seed, which crosses threads.
 */
import { seededRandom } from '../engine/random';
import type { RgbImage } from '../images/types';
import type { TransformStep } from './parse';
import { TRANSFORMS } from './transforms';

export interface ChainTask {
  image: RgbImage;
  steps: TransformStep[];
  /** Seeds the random transforms' draws (resize-pad): one stream for the whole chain. */
  seed: number;
  /** [height, width] of the model that classifies the result. */
  inputSize: [number, number];
}

/** Runs a chain somewhere; a fired signal rejects with its reason, or an error saying it was aborted. */
export type ChainRunner = (task: ChainTask, signal?: AbortSignal) => Promise<RgbImage>;

export async function applyChain({ image, steps, seed, inputSize }: ChainTask): Promise<RgbImage> {
  const ctx = { random: seededRandom(seed), inputSize };
  let out = image;
  for (const step of steps) out = await TRANSFORMS[step.name].apply(out, step.param, ctx);
  return out;
}

/** On the calling thread: for the CLI, where no event loop has to stay responsive. */
export const inProcess: ChainRunner = async (task, signal) => {
  signal?.throwIfAborted();
  return applyChain(task);
};
