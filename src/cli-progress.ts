/** `advserve attack`'s progress bar on stderr, fed by AttackParams.onProgress (one report per iteration and one at the end). */
import type { AttackProgress } from './engine/types';

const WIDTH = 24;

export function progressBar(out: { write(s: string): unknown }) {
  let shown = false;
  return {
    update: (p: AttackProgress) => {
      const filled = Math.round((WIDTH * p.iteration) / Math.max(1, p.iterations));
      const bar = '#'.repeat(filled) + '.'.repeat(WIDTH - filled);
      const e = p.ensemble;
      out.write(`\r[${bar}] ${p.iteration}/${p.iterations}  target ${p.target.label} ${(e.targetProb * 100).toFixed(1)}%  top ${e.label} ${(e.prob * 100).toFixed(1)}%\x1b[K`);
      shown = true;
    },
    done: () => {
      if (shown) out.write('\n');
    },
  };
}
