/**
 * The bench's goal figures (bench/summary.ts): the concurrency ceiling (the best pass rate of the
 * attacked models in the run, over the sequential attacks' image-steps/s) and the goal line that
 * prints it; and the PyTorch setup each figure is measured against (its fastest for that figure).
 */
import t from 'tap';
import type { StepResult } from '../../bench/advserve';
import type { ConcurrencyResult } from '../../bench/concurrent';
import { attackFigure, concurrencyCeiling, concurrencyFigure, fastestBatchRow, fastestLoop } from '../../bench/summary';
import type { AttackResult } from '../../bench/advserve';
import type { TorchRun, TorchStep } from '../../bench/pytorch';

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

const step = (batch: number, imageStepsPerS: number): TorchStep => ({ batch, ms_per_step: 1000 / imageStepsPerS, image_steps_per_s: imageStepsPerS, reps: 3, ms_all: [], discarded: 0, contended: 0 });
const loop = (ms: number) => ({ iters: 20, batch: 1, ms_median: ms, ms_all: [ms], other_cores: [0] });
const run = (setup: string, loopMs: number | undefined, rows: TorchStep[]): TorchRun =>
  ({ setup, results: { m: rows }, ...(loopMs === undefined ? {} : { loop: { m: loop(loopMs) } }) }) as unknown as TorchRun;

t.test("each goal is measured against PyTorch's fastest setup for that figure", async (t) => {
  // openblas-openmp wins the batch row, plain the loop; the reference BLAS is faster at both but informational only.
  const runs = [run('openblas-openmp', 1070, [step(1, 24), step(8, 21.8)]), run('plain', 750, [step(1, 26), step(8, 19.6)]), run('reference-blas', 500, [step(8, 40)])];
  t.same(fastestLoop(runs, 'm'), { setup: 'plain', loop: loop(750) });
  t.same(fastestBatchRow(runs, 'm'), { setup: 'openblas-openmp', row: step(8, 21.8) });
  t.equal(fastestLoop(runs, 'other'), undefined, 'no loop for that name');
  t.equal(fastestLoop([run('plain', undefined, [step(1, 3)])], 'm'), undefined, 'no loop timed');
  t.same(fastestBatchRow([run('plain', 1, [step(1, 3), step(4, 5)])], 'm'), { setup: 'plain', row: step(4, 5) }, 'the largest batch when 8 did not run');
  t.equal(fastestBatchRow([], 'm'), undefined);
});

t.test("loops timed in turn with the attacks are the ones an attack is measured against", async (t) => {
  const runs = [run('plain', 600, [step(1, 30)]), run('openblas-openmp', 650, [step(1, 28)])];
  const attack = (paired?: AttackResult['paired']) =>
    ({ msMedian: 500, msAll: [500], engineElapsedMs: [], target: 'x', success: [true], otherCores: [0], linf: 16, l2: 0, outputSha256: [], ...(paired ? { paired } : {}) }) as AttackResult;
  const inTurn = (ms: number) => ({ ...loop(ms), interleaved: true });
  const paired = attack({ plain: inTurn(900), 'openblas-openmp': inTurn(800) });
  // The separate run's plain loop (600 ms) is faster, but it ran minutes away from the attacks.
  t.same(fastestLoop(runs, 'm', paired), { setup: 'openblas-openmp', loop: inTurn(800) });
  t.same(fastestLoop(runs, 'm', attack()), { setup: 'plain', loop: loop(600) }, 'no pairing: the separate run');
  t.same(fastestLoop(runs, 'm', attack({})), { setup: 'plain', loop: loop(600) }, 'no setup lasted the pairing: the separate run');
  const line = attackFigure('1. one attack', paired.msMedian ? paired : null, inTurn(800), 'openblas-openmp', 0.25);
  t.match(line, /PyTorch openblas-openmp 20 steps at batch 1 0\.80 s \(median of 1, in turn with advserve's runs\); ratio PyTorch\/advserve 1\.60/);
  t.notMatch(attackFigure('1. one attack', paired, loop(600), 'plain', 0.25), /in turn/);
});
