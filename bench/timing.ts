/** Repetition policy shared by the bench's timed sections: one warm-up, then at least
 * minReps and at most maxReps timed runs, stopping once budgetMs of timed work is spent. */
export interface RepeatPolicy {
  warmup: number;
  minReps: number;
  maxReps: number;
  budgetMs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs fn per the policy; returns the timed durations in ms. */
export function timeRepeated(fn: () => void, p: RepeatPolicy): number[] {
  for (let i = 0; i < p.warmup; i++) fn();
  const times: number[] = [];
  let spent = 0;
  while (times.length < p.maxReps && (times.length < p.minReps || spent < p.budgetMs)) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    times.push(dt);
    spent += dt;
  }
  return times;
}
