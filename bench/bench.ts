/**
 * `npm run bench`: advserve's attack-step throughput and attack latency on this machine,
 * beside PyTorch CPU (2 threads) on the same architectures when /usr/bin/python3 has torch.
 *
 *   npm run bench                       table (progress on stderr)
 *   npm run bench -- --json             one JSON object on stdout instead (npm run -s: no npm banner)
 *   npm run bench -- --json-out FILE    the table on stdout and the JSON object written to FILE
 *   npm run bench -- --quick            batch 1 only, fewer repetitions, one attack
 *   npm run bench -- --images DIR       real photos (cover-resized to 512x384) instead of the synthetic image
 *   npm run bench -- --models inception_v3,mobilenet_v2 --batches 1,4
 *   npm run bench -- --workers N        the service's worker pool size (default: the service's, ADVSERVE_WORKERS);
 *                                       0 times the in-process runner only
 *   npm run bench -- --wasm-threads T   XNNPACK threads per worker (default: the service's, ADVSERVE_WASM_THREADS;
 *                                       as in the service, the one of --workers/--wasm-threads not given
 *                                       follows from the other); e.g. --workers 1 --wasm-threads 2
 *   npm run bench -- --no-per-core      with threaded workers, skip the extra column of one single-threaded
 *                                       worker per core (the split `advserve eval` uses)
 *   npm run bench -- --runtime R        what runs the networks: auto (default: the service's, ADVSERVE_RUNTIME), onnx, tfjs
 *   npm run bench -- --micro-batch M    most images per network pass (default: ADVSERVE_MICRO_BATCH, 2)
 *   npm run bench -- --in-process-batches 1,4,8   batches for the extra 1-thread (in-process) column
 *                                       (default 1; "none" to skip it)
 *   npm run bench -- --no-pytorch       advserve only;  --python PATH  another interpreter
 *   npm run bench -- --torch-threads N  PyTorch's thread count (default 2)
 *   npm run bench -- --no-attack        skip the full attack;  --attack-reps N (default 3)
 *   npm run bench -- --reference-blas   also time PyTorch on Debian's reference BLAS (libblas3), for information
 *   npm run bench -- --max-other-cores X  redo timed runs during which other processes used more than
 *                                       X cores (default 0.25), within a bounded retry budget
 *   npm run bench -- --imagenet [--shared DIR]  also the ImageNet part (bench/imagenet.ts): the trained
 *                                       mobilenet_v2_torch_float (PyTorch's ONNX) alone and in a 3-model
 *                                       ImageNet ensemble, from folders made of DIR (default ../shared) in a
 *                                       temp dir, beside PyTorch's mobilenet_v2 with the same state_dict;
 *                                       skipped (with a note) when DIR is absent
 *   npm run bench -- --imagenet-only    the ImageNet part alone (no bundled-model table)
 *   npm run bench -- --concurrency-jobs N --concurrency-iters K   the concurrency section on the service's
 *                                       engine: N attacks of K iterations in sequence, then at once
 *                                       (default 8 x 20; --quick 4 x 5); --no-concurrency skips it
 *   npm run bench -- --peak-gflops N    the host's fp32 peak for the GFLOP/s table, instead of the one
 *                                       computed from /proc/cpuinfo (cores x "cpu MHz" x FLOP/cycle)
 *   npm run bench -- --no-flops         skip counting FLOPs (the GFLOP/s table needs the compiled graphs)
 *
 * The report ends with the goal figures (bench/summary.ts): one attack against PyTorch's same
 * 20 ensemble steps, concurrent against sequential attacks, GFLOP/s against the host's peak,
 * and the worker's peak RSS at batch 8.
 *
 * See docs/PERFORMANCE.md for what is measured and for this machine's numbers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { loadConfig } from '../src/config';
import { engineOptions } from '../src/engine/bootstrap';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { bundledSpecs } from '../src/models/registry';
import { ATTACK_ITERS, runPhase, startBackend, type BackendInfo, type PhaseResult, type StepResult } from './advserve';
import { benchImages } from './images';
import { formatImagenet, runImagenet, type ImagenetReport } from './imagenet';
import { countFlops, describePeak, hostPeak, type HostPeak, type ModelFlops } from './flops';
import { runPytorch, loopRunners, type LoopPairing, type TorchOutcome } from './pytorch';
import { advserveFlopRows, attackFigure, concurrencyFigure, fastestBatchRow, fastestLoop, flopTable, goals, memoryFigure, sgemmLine, torchFlopRows, type Goals } from './summary';
import type { RepeatPolicy } from './timing';

const ALL_MODELS = ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid'];
/** Class whose cross-entropy the timed steps descend ('Porn' in the bundled label set; the same in pytorch_step.py). */
const STEP_TARGET = 3;

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'json-out': { type: 'string' },
    quick: { type: 'boolean', default: false },
    images: { type: 'string' },
    models: { type: 'string' },
    batches: { type: 'string' },
    workers: { type: 'string' },
    'wasm-threads': { type: 'string' },
    'micro-batch': { type: 'string' },
    runtime: { type: 'string' },
    'no-per-core': { type: 'boolean', default: false },
    'in-process-batches': { type: 'string', default: '1' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'no-pytorch': { type: 'boolean', default: false },
    'no-attack': { type: 'boolean', default: false },
    'attack-reps': { type: 'string' },
    'torch-threads': { type: 'string', default: '2' },
    'max-other-cores': { type: 'string', default: '0.25' },
    'reference-blas': { type: 'boolean', default: false },
    imagenet: { type: 'boolean', default: false },
    'imagenet-only': { type: 'boolean', default: false },
    shared: { type: 'string' },
    'concurrency-jobs': { type: 'string' },
    'concurrency-iters': { type: 'string' },
    'no-concurrency': { type: 'boolean', default: false },
    'peak-gflops': { type: 'string' },
    'no-flops': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (flags.help) {
  const src = readFileSync(__filename, 'utf8');
  process.stdout.write(`${src.slice(src.indexOf('/**') + 4, src.indexOf('*/')).replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}

function int(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
  return n;
}

const list = (s: string | undefined, dflt: string[]) => (s ? s.split(',').map((v) => v.trim()).filter(Boolean) : dflt);
const models = list(flags.models, ALL_MODELS);
const batchList = (name: string, items: string[]) =>
  items.map((b) => {
    const n = Number(b);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--${name}: "${b}" is not an integer in [1, 64]`);
    return n;
  });
const batches = batchList('batches', list(flags.batches, flags.quick ? ['1'] : ['1', '4', '8']));
const inProcessBatches =
  flags['in-process-batches'] === 'none' ? [] : batchList('in-process-batches', list(flags['in-process-batches'], ['1'])).filter((b) => batches.includes(b));
// The flags stand in for the service's variables, and loadConfig splits the cores as the
// service does (an unset one follows from the other).
const FLAG_VARS = { workers: 'ADVSERVE_WORKERS', 'wasm-threads': 'ADVSERVE_WASM_THREADS', 'micro-batch': 'ADVSERVE_MICRO_BATCH', runtime: 'ADVSERVE_RUNTIME' } as const;
const flagEnv: Record<string, string> = {};
for (const [flag, name] of Object.entries(FLAG_VARS)) {
  const v = flags[flag as keyof typeof FLAG_VARS];
  if (v !== undefined) flagEnv[name] = v;
}
const config = (() => {
  try {
    return loadConfig({ ...process.env, ...flagEnv });
  } catch (err) {
    // Name the flag the user gave, not the variable it stands in for.
    let msg = (err as Error).message;
    for (const [flag, name] of Object.entries(FLAG_VARS)) if (name in flagEnv) msg = msg.replace(name, `--${flag}`);
    throw new Error(msg, { cause: err });
  }
})();
const { workers, wasmThreads, microBatch, runtime, onnxWideThreads } = config;
const attackReps = flags['no-attack'] ? 0 : int('attack-reps', flags['attack-reps'], flags.quick ? 1 : 3, 1);
const threads = int('torch-threads', flags['torch-threads'], 2, 1);
const concurrency = flags['no-concurrency']
  ? undefined
  : {
      jobs: int('concurrency-jobs', flags['concurrency-jobs'], flags.quick ? 4 : 8, 1),
      iterations: int('concurrency-iters', flags['concurrency-iters'], flags.quick ? 5 : 20, 1),
    };
const peakOverride = flags['peak-gflops'] === undefined ? undefined : Number(flags['peak-gflops']);
if (peakOverride !== undefined && !(peakOverride > 0)) throw new Error('--peak-gflops must be a positive number');

const maxOtherCores = Number(flags['max-other-cores']);
if (!(maxOtherCores > 0)) throw new Error('--max-other-cores must be a positive number');
const policy: RepeatPolicy = flags.quick
  ? { warmup: 1, minReps: 2, maxReps: 3, budgetMs: 1500, maxOtherCores, discardBudgetMs: 3000 }
  : { warmup: 1, minReps: 3, maxReps: 8, budgetMs: 4000, maxOtherCores, discardBudgetMs: 8000 };

const configSummary = () => ({
  workers,
  wasmThreads,
  onnxWideThreads,
  microBatch,
  maxBatch: config.maxBatch,
  batchWaitMs: config.batchWaitMs,
  runtime,
  onnxProvider: config.onnxProvider,
  forwardSessionMaxMb: config.forwardSessionMaxBytes / 2 ** 20,
  mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null,
});
const describeSplit = () =>
  `${workers} worker(s) x ${wasmThreads} thread(s)${onnxWideThreads > wasmThreads ? ` (${onnxWideThreads} for a large network)` : ''}, micro-batch ${microBatch}, max-batch ${config.maxBatch}, batch wait ${config.batchWaitMs} ms, runtime ${runtime}` +
  (config.onnxProvider === 'cpu' ? '' : `, onnxruntime provider ${config.onnxProvider}`) +
  `, forward sessions up to ${config.forwardSessionMaxBytes / 2 ** 20} MiB of weights` +
  `, MALLOC_ARENA_MAX ${process.env.MALLOC_ARENA_MAX ?? 'unset'}`;
const describeConfig = () =>
  `${describeSplit()} (loadConfig: the defaults \`npm start\` runs, with any ADVSERVE_* variables and flags given)`;
const describeHost = (h: HostPeak) => {
  let flagsLine = '';
  try {
    flagsLine = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
  } catch {
    /* not Linux */
  }
  const simd = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'amx_tile'].filter((f) =>
    new RegExp(`\\b${f}\\b`).test(flagsLine),
  );
  return `${h.cpu} (${h.vendor}, family ${h.family ?? '?'}), ${h.cores} cores, ${h.mhz === null ? 'MHz unknown' : `${h.mhz.toFixed(0)} MHz`}, flags: ${simd.join(' ') || 'unknown'}`;
};
/** Name of the PyTorch loop that mirrors the timed attack: the ensemble step, or the one model's. */
const loopName = models.length > 1 ? 'ensemble' : models[0];

const progress = (msg: string) => {
  if (!flags.json) process.stderr.write(`[bench] ${msg}\n`);
};

/** CPU seconds used by the whole machine, and by this process plus its waited-for children (Linux). */
function cpuSeconds(): { all: number; self: number } | null {
  try {
    const hz = 100; // USER_HZ on Linux
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    const all = cpu.slice(0, 8).reduce((s, v, i) => (i === 3 || i === 4 ? s : s + v), 0) / hz;
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields after ')' start at field 3 (state); utime, stime, cutime, cstime are fields 14-17
    const self = (f[11] + f[12] + f[13] + f[14]) / hz;
    return { all, self };
  } catch {
    return null;
  }
}

function machine() {
  let flagsLine = '';
  try {
    flagsLine = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
  } catch {
    /* not Linux */
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flagsLine);
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    avx2: has('avx2'),
    avx512f: has('avx512f'),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
  };
}

interface Report {
  date: string;
  machine: ReturnType<typeof machine>;
  node: string;
  tfjs: string;
  backend: BackendInfo;
  command: string;
  input: string;
  models: string[];
  batches: number[];
  policy: RepeatPolicy;
  warnings: string[];
  advserve: {
    /** The service's configuration (worker pool; in-process when --workers 0). */
    service: PhaseResult;
    /** In-process, one thread; null when the service phase already was in-process. */
    inProcess: PhaseResult | null;
    /**
     * When the service runs threaded workers: one single-threaded worker per core (the
     * throughput split, as `advserve eval` runs), timed the same way; else null.
     */
    perCore: PhaseResult | null;
    /** Peak RSS of the whole bench process (process.resourceUsage().maxRSS), MiB. */
    processPeakRssMiB: number;
    tensorsLeaked: number;
  };
  pytorch: TorchOutcome;
  ratios: Record<string, { batch: number; service: number | null; inProcess: number | null; perCore: number | null }[]>;
  /** The service's configuration as loadConfig gives it (defaults, ADVSERVE_* and the flags). */
  config: ReturnType<typeof configSummary>;
  host: HostPeak;
  /** Per bundled model, from the compiled graph (bench/flops.ts); empty with --no-flops. */
  flops: ModelFlops[];
  /** The goal figures' numbers (the report's last block), on the service's split. */
  goals: Goals;
  /** With --imagenet: the ImageNet part (bench/imagenet.ts). */
  imagenet?: ImagenetReport;
  loadavg: { start: number[]; end: number[] };
  otherCpuS: number | null;
  otherCoresAvg: number | null;
  wallS: number;
}

async function main() {
  const started = performance.now();
  const loadStart = os.loadavg();
  const cpuStart = cpuSeconds();
  const date = new Date().toISOString();
  const backend = await startBackend();
  progress(`main-thread backend ${backend.backend} (tfjs ${backend.tfjs}, simd ${backend.wasmSimd}, threads ${backend.wasmThreads})`);
  const specs = flags['imagenet-only'] ? [] : bundledSpecs(models);

  const cores = os.availableParallelism();
  // WebGPU runs in one worker only (config.ts), so not one per core.
  const timePerCore = workers > 0 && wasmThreads > 1 && !flags['no-per-core'] && config.onnxProvider !== 'webgpu';
  const maxStreams = Math.max(1, workers, timePerCore ? cores : 0);
  const { images, source } = await benchImages(flags.images, Math.max(Math.max(...batches) * maxStreams, concurrency?.jobs ?? 0));
  const host = hostPeak(peakOverride);
  progress(`input: ${source}`);

  const warnings: string[] = [];
  const imagenetPart = () =>
    runImagenet({
      shared: flags.shared,
      workers,
      wasmThreads,
      onnxWideThreads,
      perCoreWorkers: timePerCore ? cores : 0,
      microBatch,
      runtime,
      onnxProvider: config.onnxProvider,
      forwardMaxBytes: config.forwardSessionMaxBytes,
      backend: backend.backend,
      images,
      batches,
      policy,
      attackReps,
      engineOptions: engineOptions(config),
      concurrency,
      countFlops: !flags['no-flops'],
      peak: host,
      torch: flags['no-pytorch'] ? null : { python: flags.python!, threads, quick: flags.quick, maxOtherCores, referenceBlas: flags['reference-blas'] },
      progress,
      warnings,
    });
  if (flags['imagenet-only']) {
    const imagenet = await imagenetPart();
    if (imagenet.skipped) process.stderr.write(`ImageNet part skipped: ${imagenet.skipped}\n`);
    const cpuEnd = cpuSeconds();
    const wallS = (performance.now() - started) / 1000;
    const otherCpuS = cpuStart && cpuEnd ? Math.max(0, cpuEnd.all - cpuStart.all - (cpuEnd.self - cpuStart.self)) : null;
    const m = machine();
    const report = {
      date,
      machine: m,
      node: process.version,
      backend,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
      input: source,
      batches,
      policy,
      runtime,
      split: { workers, wasmThreads, microBatch },
      config: configSummary(),
      host,
      warnings,
      imagenet,
      processPeakRssMiB: process.resourceUsage().maxRSS / 1024,
      loadavg: { start: loadStart, end: os.loadavg() },
      otherCpuS,
      otherCoresAvg: otherCpuS === null ? null : otherCpuS / wallS,
      wallS,
    };
    if (flags['json-out']) writeFileSync(flags['json-out'], `${JSON.stringify(report, null, 1)}\n`);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return;
    }
    const out = [
      `advserve bench (ImageNet part only)  ${date}`,
      `machine: ${m.cpu}, ${m.cores} cores (${m.avx2 ? 'avx2' : 'no avx2'}, ${m.avx512f ? 'avx512f' : 'no avx512'}), ${m.memoryGiB} GiB; node ${process.version}`,
      `advserve: tfjs ${backend.tfjs}, runtime ${runtime}, ${workers} worker(s) x ${wasmThreads} thread(s), micro-batch ${microBatch}`,
      `input: ${source}`,
      `command: ${report.command}`,
      '',
      `configuration: ${describeConfig()}`,
      `host: ${describeHost(host)}`,
      describePeak(host),
      '',
      formatImagenet(imagenet, maxOtherCores, host),
      ...warnings.map((wn) => `warning: ${wn}`),
      `other processes during the run: ${otherCpuS === null ? 'unknown' : `${otherCpuS.toFixed(0)} CPU-s (${report.otherCoresAvg!.toFixed(2)} cores on average)`}; ` +
        `load average ${loadStart[0].toFixed(2)} at start, ${report.loadavg.end[0].toFixed(2)} at end; wall ${wallS.toFixed(0)} s`,
    ];
    if (report.otherCoresAvg !== null && report.otherCoresAvg > 0.1) {
      out.push('WARNING: other processes were using the CPU during this run; its numbers are slower and noisier than a quiet machine gives.');
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return;
  }
  const tensorsBefore = tf.memory().numTensors;
  const common = { microBatch, runtime, onnxProvider: config.onnxProvider, forwardMaxBytes: config.forwardSessionMaxBytes, specs, backend: backend.backend, images, batches, policy, target: STEP_TARGET, progress, warnings };
  // The service's configuration first, so that its RSS is not inflated by the in-process phase.
  // The goal's PyTorch loops run in turn with the service's timed attacks, in the same minutes of a drifting host.
  const pairedLoops =
    flags['no-pytorch'] || attackReps === 0
      ? undefined
      : async (): Promise<LoopPairing> => ({
          name: loopName,
          ...(loopRunners({ python: flags.python!, models, batches, quick: flags.quick, ensemble: models.length > 1, threads, maxOtherCores, referenceBlas: false, progress, extraArgs: ['--loop-iters', String(ATTACK_ITERS)] })),
        });
  const service = await runPhase({ ...common, workers, wasmThreads, onnxWideThreads, attackReps, engineOptions: engineOptions(config), concurrency, pairedLoops });
  const perCore = timePerCore ? await runPhase({ ...common, workers: cores, wasmThreads: 1, attackReps }) : null;
  const inProcess =
    workers > 0 && inProcessBatches.length ? await runPhase({ ...common, batches: inProcessBatches, workers: 0, wasmThreads: 1, attackReps: 0 }) : null;
  const processPeakRssMiB = process.resourceUsage().maxRSS / 1024;
  const tensorsLeaked = tf.memory().numTensors - tensorsBefore;

  let pytorch: TorchOutcome;
  if (flags['no-pytorch']) pytorch = { runs: [], peer: null, skipped: '--no-pytorch given', notes: [] };
  else {
    pytorch = await runPytorch({
      python: flags.python!,
      models,
      batches,
      quick: flags.quick,
      ensemble: models.length > 1,
      threads,
      maxOtherCores,
      referenceBlas: flags['reference-blas'],
      progress,
      // The network work of the timed attack: its steps at batch 1 on one image, through every model.
      extraArgs: attackReps > 0 ? ['--loop-iters', String(ATTACK_ITERS), '--loop-reps', String(attackReps), '--loop-of', loopName] : [],
    });
    // The table repeats it; with --json this stderr line is the only human-readable trace.
    if (pytorch.skipped) process.stderr.write(`PyTorch column skipped: ${pytorch.skipped}\n`);
  }
  const imagenet = flags.imagenet ? await imagenetPart() : undefined;
  if (imagenet?.skipped) process.stderr.write(`ImageNet part skipped: ${imagenet.skipped}\n`);
  // Last, on the main thread: compiling the graphs grows its wasm heap, which never shrinks.
  const flops: ModelFlops[] = [];
  if (!flags['no-flops']) {
    progress('counting FLOPs from the compiled graphs');
    for (const spec of specs) flops.push(await countFlops(spec));
  }
  const peerRun = pytorch.runs.find((r) => r.setup === pytorch.peer);
  const ratios: Report['ratios'] = {};
  for (const [name, rows] of Object.entries(service.steps)) {
    ratios[name] = rows.map((r) => {
      const p = peerRun?.results[name]?.find((x) => x.batch === r.batch);
      const single = inProcess?.steps[name]?.find((x) => x.batch === r.batch);
      const split = perCore?.steps[name]?.find((x) => x.batch === r.batch);
      return {
        batch: r.batch,
        service: p ? r.imageStepsPerS / p.image_steps_per_s : null,
        inProcess: p && single ? single.imageStepsPerS / p.image_steps_per_s : null,
        perCore: p && split ? split.imageStepsPerS / p.image_steps_per_s : null,
      };
    });
  }

  const members = { ensemble: models };
  const summary = goals(
    {
      phase: service,
      loop: fastestLoop(pytorch.runs, loopName, service.attack),
      batch: fastestBatchRow(pytorch.runs, loopName),
      advFlops: flops.length ? advserveFlopRows(service.steps, flops, members) : [],
      torchFlops: flops.length ? torchFlopRows(peerRun, members) : [],
      batches,
    },
    host,
  );
  const cpuEnd = cpuSeconds();
  const wallS = (performance.now() - started) / 1000;
  // CPU time that other processes took from this machine while the bench ran: a contended
  // run (tests, builds, other benches) makes every number here slower and noisier.
  const otherCpuS = cpuStart && cpuEnd ? Math.max(0, cpuEnd.all - cpuStart.all - (cpuEnd.self - cpuStart.self)) : null;
  const report: Report = {
    date,
    machine: machine(),
    node: process.version,
    tfjs: backend.tfjs,
    backend,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    input: source,
    models,
    batches,
    policy,
    config: configSummary(),
    host,
    flops,
    goals: summary,
    warnings,
    advserve: { service, inProcess, perCore, processPeakRssMiB, tensorsLeaked },
    pytorch,
    ratios,
    ...(imagenet ? { imagenet } : {}),
    loadavg: { start: loadStart, end: os.loadavg() },
    otherCpuS,
    otherCoresAvg: otherCpuS === null ? null : otherCpuS / wallS,
    wallS,
  };

  if (flags['json-out']) writeFileSync(flags['json-out'], `${JSON.stringify(report, null, 1)}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(formatReport(report));
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const fmtRate = (v: number | undefined, contended?: number) => (v === undefined ? '-' : v.toFixed(2) + (contended ? '*' : ' '));
const fmtRatio = (v: number | null | undefined) => (v == null ? '-' : v.toFixed(2));

function formatReport(r: Report): string {
  const out: string[] = [];
  const m = r.machine;
  const { service, inProcess, perCore } = r.advserve;
  const isa = [m.avx2 ? 'avx2' : 'no avx2', m.avx512f ? 'avx512f' : 'no avx512'].join(', ');
  out.push(`advserve bench  ${r.date}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores (${isa}), ${m.memoryGiB} GiB; node ${r.node}`);
  out.push(`advserve: tfjs ${r.tfjs}, backend ${service.backend} (wasm simd ${r.backend.wasmSimd}, multithread ${r.backend.wasmThreads})`);
  out.push(`configuration: ${describeConfig()}; the networks ran in ${service.backend}`);
  out.push(`host: ${describeHost(r.host)}`);
  out.push(describePeak(r.host));
  const torchRuns = r.pytorch.runs;
  if (torchRuns.length) {
    const t = torchRuns[0];
    out.push(`pytorch: torch ${t.torch}, torchvision ${t.torchvision}, python ${t.python}, ${t.threads} threads, mkldnn ${t.mkldnn}`);
    for (const run of torchRuns) {
      const blas = run.blas_libs.filter((l) => /blas|lapack/.test(l)).join(' ');
      out.push(`  ${pad(run.setup, 16)} LD_LIBRARY_PATH=${run.ld_library_path || '(unset)'}  loaded: ${blas || '?'}${run.setup === r.pytorch.peer ? '   <- peer' : ''}`);
    }
  }
  if (r.pytorch.skipped) out.push(`PyTorch column skipped: ${r.pytorch.skipped}`);
  for (const n of r.pytorch.notes) if (!r.pytorch.skipped?.includes(n)) out.push(`note: ${n}`);
  out.push(`input: ${r.input}`);
  out.push(`command: ${r.command}`);
  out.push('');
  out.push("One attack step = forward + input gradient of the target's cross-entropy + signed step, on 512x384 user");
  out.push('images (resize to the model size inside the gradient). image-steps/s, median; higher is better.');
  const perCoreName = perCore ? `${perCore.slots} workers x 1` : '';
  const svcName = service.runner === 'pool' ? `${service.slots} workers${wasmThreads > 1 ? ` x ${wasmThreads} threads` : ''}` : 'in-process';
  out.push(
    `advserve columns: "${svcName}" = the service's runner` +
      (service.runner === 'pool' ? ` (${service.slots} batches of the given size at once, one per worker)` : '') +
      (perCore ? `; "${perCoreName}" = one single-threaded worker per core (as advserve eval runs)` : '') +
      (inProcess ? '; "1 thread" = in-process runner (ADVSERVE_WORKERS=0)' : '') +
      (torchRuns.length ? '. ratio = advserve / PyTorch peer.' : '.'),
  );
  const setups = torchRuns.map((t) => t.setup);
  const w = (s: string) => Math.max(9, s.length);
  const head = [pad('model', 17), lpad('batch', 5)];
  if (inProcess) head.push(lpad('1 thread', 9));
  head.push(lpad(svcName, w(svcName)));
  if (perCore) head.push(lpad(perCoreName, w(perCoreName)));
  for (const s of setups) head.push(lpad(`pt ${s}`, w(`pt ${s}`)));
  if (torchRuns.length) {
    if (inProcess) head.push(lpad('ratio 1T', 8));
    head.push(lpad(`ratio ${service.runner === 'pool' ? `${service.slots}W` : ''}`.trim(), 8));
    if (perCore) head.push(lpad(`ratio ${perCore.slots}x1`, 9));
  }
  out.push(head.join('  '));
  let anyContended = false;
  for (const [name, rows] of Object.entries(service.steps)) {
    rows.forEach((row: StepResult, i) => {
      const cells = [pad(name, 17), lpad(String(row.batch), 5)];
      if (inProcess) {
        const s = inProcess.steps[name]?.find((x) => x.batch === row.batch);
        anyContended ||= !!s?.contended;
        cells.push(lpad(fmtRate(s?.imageStepsPerS, s?.contended), 9));
      }
      anyContended ||= !!row.contended;
      cells.push(lpad(fmtRate(row.imageStepsPerS, row.contended), w(svcName)));
      if (perCore) {
        const s = perCore.steps[name]?.find((x) => x.batch === row.batch);
        anyContended ||= !!s?.contended;
        cells.push(lpad(fmtRate(s?.imageStepsPerS, s?.contended), w(perCoreName)));
      }
      for (const t of torchRuns) {
        const p = t.results[name]?.find((x) => x.batch === row.batch);
        anyContended ||= !!p?.contended;
        cells.push(lpad(fmtRate(p?.image_steps_per_s, p?.contended), w(`pt ${t.setup}`)));
      }
      if (torchRuns.length) {
        const ratio = r.ratios[name]?.[i];
        if (inProcess) cells.push(lpad(fmtRatio(ratio?.inProcess), 8));
        cells.push(lpad(fmtRatio(ratio?.service), 8));
        if (perCore) cells.push(lpad(fmtRatio(ratio?.perCore), 9));
      }
      out.push(cells.join('  '));
    });
  }
  if (anyContended) out.push('* some timed runs in this cell had other processes using the CPU (retry budget spent): slower and noisier.');
  out.push('');
  const attackLine = (a: NonNullable<PhaseResult['attack']>, runner: string) =>
    out.push(
      `mng-l1 targeted attack through Engine.attack (${runner}; 20 iterations, eps 16, 512x384, ${r.models.length} model(s), target ${a.target}): ` +
        `${a.msMedian.toFixed(0)} ms median of ${a.msAll.length} [${a.msAll.map((x) => x.toFixed(0)).join(', ')}], ` +
        `success ${a.success.every(Boolean) ? 'yes' : a.success.some(Boolean) ? 'some' : 'no'}, linf ${a.linf}, l2 ${a.l2.toFixed(0)}` +
        (a.otherCores.some((c) => c !== null && c > r.policy.maxOtherCores)
          ? ` (other processes used ${a.otherCores.map((c) => (c === null ? '?' : c.toFixed(2))).join(', ')} cores during the runs)`
          : ''),
    );
  if (service.attack) attackLine(service.attack, svcName);
  else out.push('attack: skipped (--no-attack)');
  if (perCore?.attack) attackLine(perCore.attack, perCoreName);
  for (const [p, name] of [[service, svcName], [perCore, perCoreName]] as const) {
    if (p?.classify) {
      out.push(
        `classify (Engine.classify, 512x384, ${r.models.length} model(s), ${name}): ${p.classify.msMedian.toFixed(0)} ms median of ` +
          `${p.classify.msAll.length} [${p.classify.msAll.map((x) => x.toFixed(0)).join(', ')}]`,
      );
    }
  }
  const hashes = [service.attack, perCore?.attack].flatMap((a) => a?.outputSha256 ?? []);
  if (hashes.length > 1) {
    out.push(
      new Set(hashes).size === 1
        ? `attack output: the same bytes in all ${hashes.length} runs (sha256 ${hashes[0].slice(0, 16)})`
        : `WARNING: attack outputs differ between runs: ${hashes.map((h) => h.slice(0, 12)).join(', ')}`,
    );
  }
  const torchRss = torchRuns.map((t) => `${t.setup} ${t.max_rss_mb.toFixed(0)}`).join(', ');
  out.push(
    `peak RSS: advserve ${svcName} ${service.rssPeakMiB.toFixed(0)} MiB` +
      (perCore ? `, ${perCoreName} ${perCore.rssPeakMiB.toFixed(0)} MiB` : '') +
      (inProcess ? `, 1 thread ${inProcess.rssPeakMiB.toFixed(0)} MiB (sampled)` : '') +
      `; whole bench process ${r.advserve.processPeakRssMiB.toFixed(0)} MiB` +
      (torchRss ? `; pytorch ${torchRss} MiB` : ''),
  );
  const loads = (p: PhaseResult) =>
    p.loads
      .map((l) => `${l.id}${Number.isNaN(l.loadMs) ? '' : ` ${(l.loadMs / 1000).toFixed(1)} s`}${l.fallbacks.length ? ` (fallbacks: ${l.fallbacks.join(', ')})` : ''}`)
      .join(', ');
  out.push(`start-up (load + compile + warm-up): ${svcName} ${(service.startMs / 1000).toFixed(1)} s [${loads(service)}]`);
  if (perCore) out.push(`  ${perCoreName} ${(perCore.startMs / 1000).toFixed(1)} s [${loads(perCore)}]`);
  if (inProcess) out.push(`  1 thread ${(inProcess.startMs / 1000).toFixed(1)} s [${loads(inProcess)}]`);
  for (const wn of r.warnings) out.push(`warning: ${wn}`);
  if (r.advserve.tensorsLeaked !== 0) out.push(`warning: ${r.advserve.tensorsLeaked} tensor(s) left allocated on the main thread after the phases`);
  out.push('', ...goalFigures(r));
  if (r.imagenet) out.push('', formatImagenet(r.imagenet, r.policy.maxOtherCores, r.host).trimEnd());
  const other =
    r.otherCoresAvg === null ? 'unknown' : `${r.otherCpuS!.toFixed(0)} CPU-s (${r.otherCoresAvg.toFixed(2)} cores on average)`;
  out.push(`other processes during the run: ${other}; load average ${r.loadavg.start[0].toFixed(2)} at start, ${r.loadavg.end[0].toFixed(2)} at end; wall ${r.wallS.toFixed(0)} s`);
  if (r.otherCoresAvg !== null && r.otherCoresAvg > 0.1) {
    out.push('WARNING: other processes were using the CPU during this run; its numbers are slower and noisier than a quiet machine gives.');
  }
  return `${out.join('\n')}\n`;
}

/** The goal figures for the bundled models on the service's split (bench/summary.ts). */
function goalFigures(r: Report): string[] {
  const { service } = r.advserve;
  const peer = r.pytorch.runs.find((t) => t.setup === r.pytorch.peer);
  const noPeer = r.pytorch.skipped ?? 'not run';
  const what = r.models.length > 1 ? `the ${r.models.length}-model ensemble` : r.models[0];
  const loop = fastestLoop(r.pytorch.runs, loopName, service.attack);
  const batch = fastestBatchRow(r.pytorch.runs, loopName);
  const out = [
    `Goal figures, bundled models (service split: ${describeSplit()}; PyTorch: its fastest setup for each figure, named):`,
    `1. ${attackFigure(`one attack (${ATTACK_ITERS}-iteration mng-l1, eps 16, 512x384, ${what})`, service.attack, loop?.loop, loop?.setup ?? null, r.policy.maxOtherCores, noPeer)}`,
    ...(service.attack?.pairedNotes ?? []).map((n) => `   PyTorch in turn with the attacks: ${n}`),
    ...concurrencyFigure(`2. concurrency (${what})`, service.concurrency, batch?.row, batch?.setup ?? null, noPeer, service.steps[loopName]),
    '3. ImageNet: ' + (r.imagenet ? 'see the ImageNet part below' : 'not run (--imagenet)'),
  ];
  if (r.flops.length) {
    const peak = r.host.gflops === null ? 'peak unknown' : `peak ${r.host.gflops.toFixed(0)} GFLOP/s`;
    out.push(`4. GFLOP/s against the host's ${peak} (1 image-step = forward + input gradient = 4 x forward multiply-adds; advserve's from its compiled graphs, PyTorch's from its own modules):`);
    const skipped = r.flops.filter((f) => f.skipped);
    const rows = [{ who: 'advserve', rows: r.goals.gflops.advserve }, { who: `pt ${r.pytorch.peer ?? '-'}`, rows: r.goals.gflops.pytorch }];
    out.push(...flopTable(rows, r.host).map((l) => `   ${l}`));
    const ceiling = sgemmLine(peer, r.host);
    if (ceiling) out.push(`   ${ceiling}`);
    for (const f of skipped) out.push(`   ${f.id}: not counted: ${f.skipped}`);
  } else out.push('4. GFLOP/s: not counted (--no-flops)');
  out.push(`5. ${memoryFigure(service, r.batches, 'memory, the bundled models')}`);
  return out;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
