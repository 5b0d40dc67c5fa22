/**
 * The optional PyTorch CPU peer: runs bench/pytorch_step.py under /usr/bin/python3 (or
 * --python) with 2 threads (or --torch-threads), once as installed ("plain") and once with OpenBLAS-OpenMP forced
 * through LD_LIBRARY_PATH, and, with --reference-blas, once with Debian's reference BLAS
 * (informational; never the peer). The faster of plain and openblas-openmp (total
 * time over all rows) is the peer. Never required: any failure becomes a skip reason.
 * loopRunners times the peer setups' attack loops one at a time, between advserve's timed attacks
 * (the goal figure's pairing).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface TorchStep {
  batch: number;
  ms_per_step: number;
  image_steps_per_s: number;
  reps: number;
  ms_all: number[];
  discarded: number;
  contended: number;
}

/** K consecutive batch-1 steps on one image (pytorch_step.py --loop-iters K): a K-iteration attack's network work. */
export interface TorchLoop {
  iters: number;
  batch: number;
  ms_median: number;
  ms_all: number[];
  other_cores: (number | null)[];
  /** Timed in turn with advserve's attacks (loopRunners), not in the separate run. */
  interleaved?: boolean;
}

export interface TorchRun {
  setup: string;
  ld_library_path: string;
  torch: string;
  torchvision: string;
  python: string;
  threads: number;
  blas_libs: string[];
  mkldnn: boolean;
  results: Record<string, TorchStep[]>;
  /** Present with --loop-iters: per model of --loop-of ('ensemble': the ensemble step). */
  loop?: Record<string, TorchLoop>;
  /** Multiply-adds of one image's forward pass per model (Conv2d and Linear). */
  macs?: Record<string, number>;
  /** Best of 5 products of two 2048x2048 float32 matrices at the run's threads, GFLOP/s. */
  sgemm_gflops?: number;
  seconds: number;
  max_rss_mb: number;
}

export interface TorchOutcome {
  runs: TorchRun[];
  /** Setup name of the run used as the peer; null when skipped. */
  peer: string | null;
  skipped?: string;
  /** Setups that were tried and failed or were left out, with why. */
  notes: string[];
}

/** The setups that may be the peer (and that goal figures compare with); reference-blas is for information only. */
export const PEER_SETUPS: ReadonlySet<string> = new Set(['plain', 'openblas-openmp']);

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const OPENBLAS_OPENMP = `${LIBDIR}/openblas-openmp`;
const REFERENCE_BLAS = `${LIBDIR}/blas:${LIBDIR}/lapack`;
/** Whether the openblas-openmp setup can run (Debian's libopenblas0-openmp). */
const hasOpenblasOpenmp = () => existsSync(`${OPENBLAS_OPENMP}/libblas.so.3`);

interface Options {
  python: string;
  models: string[];
  batches: number[];
  quick: boolean;
  ensemble: boolean;
  threads: number;
  maxOtherCores: number;
  /** Also time Debian's reference BLAS (informational). */
  referenceBlas: boolean;
  progress: (msg: string) => void;
  /** More pytorch_step.py arguments (--state-dict, --target, --loop-iters, ...). */
  extraArgs?: string[];
}

function runOnce(opts: Options, setup: string, ldPath: string | undefined): Promise<TorchRun | { error: string; skip: boolean }> {
  const args = [
    join(__dirname, 'pytorch_step.py'),
    '--models',
    opts.models.join(','),
    '--batches',
    opts.batches.join(','),
    '--threads',
    String(opts.threads),
    ...(opts.quick ? ['--min-reps', '2', '--max-reps', '3', '--budget-s', '1'] : []),
    ...(opts.ensemble ? [] : ['--no-ensemble']),
    '--max-other-cores',
    String(opts.maxOtherCores),
    ...(opts.extraArgs ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(opts.threads) };
  delete env.MALLOC_ARENA_MAX; // advserve's allocator setting (npm start's), not the peer's
  if (ldPath === undefined) delete env.LD_LIBRARY_PATH;
  else env.LD_LIBRARY_PATH = ldPath;
  return new Promise((resolve) => {
    execFile(opts.python, args, { env, timeout: 600_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err && typeof (err as NodeJS.ErrnoException).code === 'string' ? (err as NodeJS.ErrnoException).code : undefined;
      if (code === 'ENOENT') return resolve({ error: `${opts.python} not found`, skip: true });
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        const why = err ? `${err.message.split('\n')[0]}` : 'no JSON on stdout';
        return resolve({ error: `${setup}: ${why}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`, skip: false });
      }
      const obj = parsed as Partial<TorchRun> & { skipped?: string; error?: string };
      if (obj.skipped) return resolve({ error: `${opts.python} cannot import torch/torchvision (${obj.skipped})`, skip: true });
      if (obj.error || err) return resolve({ error: `${setup}: ${obj.error ?? err?.message}`, skip: false });
      resolve({ ...(obj as TorchRun), setup });
    });
  });
}

const totalMs = (r: TorchRun) => Object.values(r.results).reduce((s, rows) => s + rows.reduce((t, x) => t + x.ms_per_step, 0), 0);
const usesReferenceBlas = (r: TorchRun) => r.blas_libs.some((l) => l.startsWith(`${LIBDIR}/blas/`));

export async function runPytorch(opts: Options): Promise<TorchOutcome> {
  const notes: string[] = [];
  if (!existsSync(opts.python)) return { runs: [], peer: null, skipped: `${opts.python} not found`, notes };
  const runs: TorchRun[] = [];
  opts.progress('pytorch: plain');
  const plain = await runOnce(opts, 'plain', undefined);
  if ('error' in plain) {
    if (plain.skip) return { runs: [], peer: null, skipped: plain.error, notes };
    notes.push(plain.error);
  } else runs.push(plain);

  if (hasOpenblasOpenmp()) {
    opts.progress('pytorch: openblas-openmp');
    const ob = await runOnce(opts, 'openblas-openmp', OPENBLAS_OPENMP);
    if ('error' in ob) notes.push(ob.error);
    else runs.push(ob);
  } else {
    notes.push(`openblas-openmp run left out: ${OPENBLAS_OPENMP}/libblas.so.3 not installed (apt-get install libopenblas0-openmp)`);
  }

  // Informational: what the 'plain' install gives on a machine whose libblas.so.3 is Debian's reference BLAS.
  if (opts.referenceBlas && !existsSync(`${LIBDIR}/blas/libblas.so.3`)) {
    notes.push(`reference-blas run left out: ${LIBDIR}/blas/libblas.so.3 not installed (apt-get install libblas3 liblapack3)`);
  } else if (opts.referenceBlas && runs.some(usesReferenceBlas)) {
    notes.push('reference-blas run left out: the plain run already used the reference BLAS');
  } else if (opts.referenceBlas && runs.length) {
    opts.progress('pytorch: reference-blas (informational)');
    const ref = await runOnce(opts, 'reference-blas', REFERENCE_BLAS);
    if ('error' in ref) notes.push(ref.error);
    else runs.push(ref);
  }

  const candidates = runs.filter((r) => PEER_SETUPS.has(r.setup));
  if (candidates.length === 0) return { runs, peer: null, skipped: notes.join('; ') || 'no PyTorch run succeeded', notes };
  const peer = candidates.reduce((best, r) => (totalMs(r) < totalMs(best) ? r : best));
  return { runs, peer: peer.setup, notes };
}

/** One PyTorch setup's K-step loop on request: a fresh run of pytorch_step.py each time. */
export interface LoopRunner {
  setup: string;
  /** K consecutive batch-1 steps of `name` ('ensemble' or a model id), timed in the peer. */
  loop(name: string): Promise<{ ms: number; otherCores: number | null }>;
}

/** The peer's loops to run beside advserve's timed attacks, each in turn (see runPhase's pairedLoops). */
export interface LoopPairing {
  /** The loop to run after each attack ('ensemble' or a model id). */
  name: string;
  runners: LoopRunner[];
  /** Setups left out, with why. */
  notes: string[];
}

/**
 * The peer setups (plain, and openblas-openmp where installed), each timing one loop per
 * call. Each call is a whole pytorch_step.py run, the same code path as runPytorch's (a short
 * batch-1 row first, then one loop), not a process kept waiting between loops: a process that
 * served loops from stdin ran them 10-20% slower than fresh runs timed in the same minutes
 * (docs/PERFORMANCE.md, ninth round), which would have flattered advserve.
 */
export function loopRunners(opts: Options): { runners: LoopRunner[]; notes: string[] } {
  if (!existsSync(opts.python)) return { runners: [], notes: [`${opts.python} not found`] };
  const setups: Array<[string, string | undefined]> = [['plain', undefined]];
  if (hasOpenblasOpenmp()) setups.push(['openblas-openmp', OPENBLAS_OPENMP]);
  const runOpts: Options = { ...opts, batches: [1], quick: true, ensemble: false };
  return {
    notes: [],
    runners: setups.map(([setup, ld]) => ({
      setup,
      async loop(name: string) {
        const args = [...(opts.extraArgs ?? []), '--loop-reps', '1', '--loop-of', name];
        const r = await runOnce({ ...runOpts, extraArgs: args }, setup, ld);
        if ('error' in r) throw new Error(r.error);
        const l = r.loop?.[name];
        if (!l) throw new Error(`${setup}: no ${name} loop in pytorch_step.py's output`);
        return { ms: l.ms_median, otherCores: l.other_cores[0] ?? null };
      },
    })),
  };
}
