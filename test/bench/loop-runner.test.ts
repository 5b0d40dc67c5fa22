/**
 * The bench's PyTorch loop runners (bench/pytorch.ts loopRunners), which time the peer's attack
 * loop in turn with advserve's attacks: each call is one run of pytorch_step.py, driven here by
 * stand-in executables given as the python, so that it runs without torch. What the runner asks
 * for (one loop of the named steps), what it reads back, and what a failing run becomes.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loopRunners } from '../../bench/pytorch';

const dir = mkdtempSync(join(os.tmpdir(), 'advserve-loop-runner-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** An executable standing in for python3; $@ is pytorch_step.py and its flags. */
function fake(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const opts = (python: string) => ({
  python,
  models: ['a', 'b'],
  batches: [1, 4, 8],
  quick: false,
  ensemble: true,
  threads: 2,
  maxOtherCores: 0.25,
  referenceBlas: false,
  progress: () => {},
  extraArgs: ['--loop-iters', '20'],
});
// loopRunners has an openblas-openmp runner too where that BLAS is installed.
const setups = existsSync('/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3') ? ['plain', 'openblas-openmp'] : ['plain'];
const result = (loop: string) =>
  `{"torch": "x", "torchvision": "x", "python": "3", "threads": 2, "blas_libs": [], "mkldnn": false, "results": {}, "loop": ${loop}, "seconds": 1, "max_rss_mb": 1}`;

t.test('one run per loop: a short batch-1 row, then one loop of the named steps', async (t) => {
  const args = join(dir, 'args');
  const python = fake('timing', `echo "$@" >> ${args}\necho '${result('{"ensemble": {"iters": 20, "batch": 1, "ms_median": 5120.5, "ms_all": [5120.5], "other_cores": [0.02]}}')}'`);
  const { runners, notes } = loopRunners(opts(python));
  t.same(notes, []);
  t.same(
    runners.map((r) => r.setup),
    setups,
  );
  t.same(await runners[0].loop('ensemble'), { ms: 5120.5, otherCores: 0.02 });
  t.match(
    readFileSync(args, 'utf8').trim(),
    /pytorch_step\.py --models a,b --batches 1 --threads 2 --min-reps 2 --max-reps 3 --budget-s 1 --no-ensemble --max-other-cores 0\.25 --loop-iters 20 --loop-reps 1 --loop-of ensemble$/,
  );
});

t.test('a run without the loop asked for, or a failing run, fails the loop with why', async (t) => {
  const other = fake('other-loop', `echo '${result('{"a": {"iters": 20, "batch": 1, "ms_median": 1, "ms_all": [1], "other_cores": [0]}}')}'`);
  await t.rejects(loopRunners(opts(other)).runners[0].loop('ensemble'), /plain: no ensemble loop in pytorch_step\.py's output/);
  const failing = fake('failing', `echo '{"error": "unknown model c"}'\nexit 2`);
  await t.rejects(loopRunners(opts(failing)).runners[0].loop('ensemble'), /plain: .*unknown model c/);
  const crashing = fake('crashing', `echo 'Segmentation fault' >&2\nexit 139`);
  await t.rejects(loopRunners(opts(crashing)).runners[0].loop('ensemble'), /plain: .*Segmentation fault/);
});

t.test('no python, no runners', async (t) => {
  const { runners, notes } = loopRunners(opts(join(dir, 'absent')));
  t.same(runners, []);
  t.match(notes[0], /absent not found/);
});
