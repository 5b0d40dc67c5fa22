/** A transform thread (piscina's worker): runs one defense's chain on one image. */
import { applyChain, type ChainTask } from '../chain';
import type { RgbImage } from '../../images/types';

export default function runChain(task: ChainTask): Promise<RgbImage> {
  return applyChain(task);
}
