/**
 * The attacks the golden test pins (test/engine/golden.test.ts): every method with its options
 * and modifiers, targeted, least-likely and max-loss, on two tiny models, a few seeds and images.
 * scripts/golden-attacks.ts records the SHA-256 of each output's RGB bytes from the code as it
 * is; the test recomputes them, so a refactor that changes any output byte fails it.
 */
import { createHash } from 'node:crypto';
import { Engine } from '../../src/engine/engine';
import { LocalRunner } from '../../src/engine/runner';
import type { AttackParams } from '../../src/engine/types';
import { tinyClassifier, tinyImage } from './tiny';

export interface GoldenCase {
  name: string;
  image: number;
  params: Omit<AttackParams, 'signal' | 'ticket' | 'onProgress'>;
}

const base = { eps: 12, iterations: 5, targeted: false } as const;
const targeted = (target: number) => ({ targeted: true, target });

export const GOLDEN_CASES: GoldenCase[] = [
  { name: 'fgsm targeted', image: 1, params: { ...base, method: 'fgsm', ...targeted(3) } },
  { name: 'fgsm least-likely', image: 2, params: { ...base, method: 'fgsm' } },
  { name: 'fgsm max-loss', image: 1, params: { ...base, method: 'fgsm', targetSelection: 'max-loss' } },
  { name: 'fgsm max-loss label', image: 2, params: { ...base, method: 'fgsm', targetSelection: 'max-loss', label: 1 } },
  { name: 'ifgsm targeted', image: 1, params: { ...base, method: 'ifgsm', ...targeted(2) } },
  { name: 'ifgsm alpha', image: 2, params: { ...base, method: 'ifgsm', ...targeted(0), alpha: 2.5 } },
  { name: 'ifgsm least-likely logit', image: 1, params: { ...base, method: 'ifgsm', loss: 'logit' } },
  { name: 'ifgsm max-loss di seed 3', image: 2, params: { ...base, method: 'ifgsm', targetSelection: 'max-loss', di: true, seed: 3 } },
  { name: 'mng-l1 targeted', image: 1, params: { ...base, method: 'mng-l1', ...targeted(3) } },
  { name: 'mng-l1 di seed 0', image: 1, params: { ...base, method: 'mng-l1', ...targeted(3), di: true } },
  { name: 'mng-l1 di seed 5', image: 2, params: { ...base, method: 'mng-l1', ...targeted(1), di: true, seed: 5 } },
  { name: 'mng-l1 ti 3', image: 2, params: { ...base, method: 'mng-l1', ...targeted(1), ti: 3 } },
  { name: 'mng-l1 max-loss', image: 1, params: { ...base, method: 'mng-l1', targetSelection: 'max-loss' } },
  { name: 'mng-l2 targeted logit', image: 1, params: { ...base, method: 'mng-l2', ...targeted(0), loss: 'logit' } },
  { name: 'mng-l2 least-likely di ti seed 9', image: 2, params: { ...base, method: 'mng-l2', di: true, ti: 5, seed: 9 } },
  { name: 'mi-fgsm targeted', image: 1, params: { ...base, method: 'mi-fgsm', ...targeted(2) } },
  { name: 'mi-fgsm mu 0.5 alpha 2', image: 2, params: { ...base, method: 'mi-fgsm', ...targeted(2), mu: 0.5, alpha: 2 } },
  { name: 'mi-fgsm logit di ti seed 1', image: 1, params: { ...base, method: 'mi-fgsm', ...targeted(3), loss: 'logit', di: true, ti: 3, seed: 1 } },
  { name: 'mi-fgsm least-likely', image: 2, params: { ...base, method: 'mi-fgsm' } },
  { name: 'mi-fgsm max-loss di seed 2', image: 1, params: { ...base, method: 'mi-fgsm', targetSelection: 'max-loss', di: true, seed: 2, iterations: 8 } },
  { name: 'mi-fgsm one model', image: 2, params: { ...base, method: 'mi-fgsm', ...targeted(1), models: ['m2'] } },
];

export function goldenEngine(): Engine {
  const runner = new LocalRunner('wasm');
  runner.add(tinyClassifier('m1', 1));
  runner.add(tinyClassifier('m2', 2));
  return new Engine(runner);
}

/** Each case's name and the SHA-256 of its output RGB bytes (hex), with the reported target and success. */
export async function runGolden(engine: Engine): Promise<Record<string, { sha256: string; target: number; success: boolean }>> {
  const out: Record<string, { sha256: string; target: number; success: boolean }> = {};
  for (const c of GOLDEN_CASES) {
    const result = await engine.attack(tinyImage(12, 10, c.image), c.params as AttackParams);
    out[c.name] = { sha256: createHash('sha256').update(result.image.rgb).digest('hex'), target: result.target.index, success: result.success };
  }
  return out;
}
