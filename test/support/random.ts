/** Seeded test data for the net tests: uniform [-1, 1) from the engine's own PRNG (mulberry32). */
import { seededRandom } from '../../src/engine/random';

export function rng(seed: number): () => number {
  const r = seededRandom(seed);
  return () => r() * 2 - 1;
}
export const fill = (n: number, r: () => number, scale = 1) => Float32Array.from({ length: n }, () => r() * scale);
export const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
