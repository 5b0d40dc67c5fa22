/**
 * The bench's concurrency ceiling (bench/summary.ts): the best pass rate of the attacked models
 * in the run, over the sequential attacks' image-steps/s, and the goal line that prints it.
 */
import t from 'tap';
import type { StepResult } from '../../bench/advserve';
import type { ConcurrencyResult } from '../../bench/concurrent';
import { concurrencyCeiling, concurrencyFigure } from '../../bench/summary';

const mode = (wallMs: number) => ({ wallMs, latenciesMs: [], meanBatch: 1, successes: 8, outputSha256: [] });
// 8 attacks x 20 iterations: 160 image-steps in 40 s in sequence (4 image-steps/s), 32 s at once.
const c: ConcurrencyResult = { jobs: 8, iterations: 20, models: ['a', 'b'], sequential: mode(40_000), concurrent: mode(32_000), throughputRatio: 1.25, identical: true, concurrentImageStepsPerS: 5 };
const row = (batch: number, imageStepsPerS: number): StepResult => ({ batch, streams: 2, msPerStep: 1000 / imageStepsPerS, imageStepsPerS, reps: 3, msAll: [], discarded: 0, contended: 0 });

t.test('the ceiling is the best pass rate of any batch size over the sequential rate', async (t) => {
  const ceiling = concurrencyCeiling(c, [row(1, 4.2), row(8, 4.6), row(4, 4.4)]);
  t.equal(ceiling?.best.batch, 8);
  t.equal(ceiling?.ratio.toFixed(3), (4.6 / 4).toFixed(3));
  t.equal(concurrencyCeiling(c, undefined), null, 'no step rows, no ceiling');
  t.equal(concurrencyCeiling(c, []), null);
});

t.test('the goal line prints it, and says nothing without step rows', async (t) => {
  const lines = concurrencyFigure('2. concurrency', c, undefined, null, 'not run', [row(1, 4.2), row(8, 6)]);
  t.match(lines.join('\n'), /ceiling: these models' best pass rate on this split in this run, 6\.00 image-steps\/s \(batch 8\), is 1\.50x the sequential attacks' 4\.00/);
  t.notMatch(concurrencyFigure('2. concurrency', c, undefined, null, 'not run').join('\n'), /ceiling/);
});
