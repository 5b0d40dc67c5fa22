/**
 * The optional PyTorch CPU peer: runs bench/pytorch_step.py under /usr/bin/python3 (or
 * --python) with 2 threads (or --torch-threads), once as installed ("plain") and once with OpenBLAS-OpenMP forced
 * through LD_LIBRARY_PATH, and, with --reference-blas, once with Debian's reference BLAS
 * (informational; never the peer). The faster of plain and openblas-openmp (total
 * time over all rows) is the peer. Never required: any failure becomes a skip reason.
 * startLoopServers keeps the peer setups running, to time their attack loops between advserve's
 * timed attacks (the goal figure's pairing).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

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
  /** Timed in turn with advserve's attacks by a loop server (startLoopServers), not in a run of its own. */
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

  if (existsSync(`${OPENBLAS_OPENMP}/libblas.so.3`)) {
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

/** One PyTorch setup serving K-step loops on request (pytorch_step.py --serve-loops). */
export interface LoopServer {
  setup: string;
  /** K consecutive batch-1 steps of `name` (one of the served loops), timed in the peer. */
  loop(name: string): Promise<{ ms: number; otherCores: number | null }>;
  close(): void;
}

/** The peer's loops run beside advserve's timed attacks, each in turn (see runPhase's pairedLoops). */
export interface LoopPairing {
  /** The loop to run after each attack ('ensemble' or a model id). */
  name: string;
  servers: LoopServer[];
  /** Setups that could not start, with why. */
  notes: string[];
}

function startLoopServer(opts: Options, setup: string, ldPath: string | undefined, loopOf: string): Promise<LoopServer | { error: string }> {
  const args = [join(__dirname, 'pytorch_step.py'), '--models', opts.models.join(','), '--threads', String(opts.threads), '--loop-of', loopOf, '--serve-loops', ...(opts.extraArgs ?? [])];
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(opts.threads) };
  delete env.MALLOC_ARENA_MAX;
  if (ldPath === undefined) delete env.LD_LIBRARY_PATH;
  else env.LD_LIBRARY_PATH = ldPath;
  const child = spawn(opts.python, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {}); // a server that died: its loop answers null and says why
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(line: string | null) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const ended = () => {
    while (waiting.length) waiting.shift()!(null);
  };
  lines.on('close', ended);
  child.on('error', ended);
  const next = () => new Promise<string | null>((res) => waiting.push(res));
  // stdout can end before the last of stderr is read: wait for every stream to close (or 2 s) before saying why.
  const closed = new Promise<void>((res) => {
    child.on('close', () => res());
    child.on('error', () => res());
  });
  const why = async (what: string) => {
    await Promise.race([closed, new Promise((res) => setTimeout(res, 2000).unref())]);
    return `${setup}: ${what}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
  };
  const close = () => {
    child.stdin.end();
    if (child.exitCode === null) setTimeout(() => child.kill(), 5000).unref();
  };
  return next().then(async (first) => {
    let ready: { ready?: boolean; skipped?: string; error?: string } = {};
    try {
      ready = first === null ? {} : JSON.parse(first);
    } catch {
      /* not JSON: reported below */
    }
    if (!ready.ready) {
      close();
      return { error: await why(ready.skipped ?? ready.error ?? (first === null ? 'exited before it was ready' : `unexpected output ${first.slice(0, 200)}`)) };
    }
    return {
      setup,
      close,
      async loop(name: string) {
        const answer = next();
        child.stdin.write(`${name}\n`);
        const line = await answer;
        if (line === null) throw new Error(await why('exited'));
        const r = JSON.parse(line) as { ms?: number; other_cores?: number | null; error?: string };
        if (r.error || r.ms === undefined) throw new Error(`${setup}: ${r.error ?? `unexpected answer ${line.slice(0, 200)}`}`);
        return { ms: r.ms, otherCores: r.other_cores ?? null };
      },
    };
  });
}

/**
 * The peer setups (plain, and openblas-openmp where installed), each serving `loopOf` loops, for
 * timing beside advserve's attacks; null when none could start (the notes say why).
 */
export async function startLoopServers(opts: Options, loopOf: string): Promise<{ servers: LoopServer[]; notes: string[] }> {
  const notes: string[] = [];
  if (!existsSync(opts.python)) return { servers: [], notes: [`${opts.python} not found`] };
  const setups: Array<[string, string | undefined]> = [['plain', undefined]];
  if (existsSync(`${OPENBLAS_OPENMP}/libblas.so.3`)) setups.push(['openblas-openmp', OPENBLAS_OPENMP]);
  const servers: LoopServer[] = [];
  for (const [setup, ld] of setups) {
    opts.progress(`pytorch: starting the ${setup} loop server (${loopOf})`);
    const s = await startLoopServer(opts, setup, ld, loopOf);
    if ('error' in s) notes.push(s.error);
    else servers.push(s);
  }
  return { servers, notes };
}
