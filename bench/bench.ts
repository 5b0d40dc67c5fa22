/**
 * `npm run bench`: advserve's attack-step throughput and attack latency on this machine,
 * beside PyTorch CPU (2 threads) on the same architectures when /usr/bin/python3 has torch.
 *
 *   npm run bench                       table (progress on stderr)
 *   npm run bench -- --json             one JSON object on stdout instead
 *   npm run bench -- --quick            batch 1 only, fewer repetitions, one attack
 *   npm run bench -- --images DIR       real photos (cover-resized to 512x384) instead of the synthetic image
 *   npm run bench -- --models inception_v3,mobilenet_v2 --batches 1,4
 *   npm run bench -- --no-pytorch       advserve only;  --python PATH  another interpreter
 *   npm run bench -- --torch-threads 1  PyTorch on one thread (default 2; advserve's wasm uses one)
 *   npm run bench -- --no-attack        skip the full attack;  --attack-reps N (default 3)
 *
 * See docs/PERFORMANCE.md for what is measured and for this machine's numbers.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { loadBundled, startBackend, timeAttack, timeStep, type AttackResult, type StepResult } from './advserve';
import { benchImages } from './images';
import { runPytorch, type TorchOutcome, type TorchRun } from './pytorch';
import type { RepeatPolicy } from './timing';

const ALL_MODELS = ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid'];
const STEP_TARGET = 3;

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    images: { type: 'string' },
    models: { type: 'string' },
    batches: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'no-pytorch': { type: 'boolean', default: false },
    'no-attack': { type: 'boolean', default: false },
    'attack-reps': { type: 'string' },
    'torch-threads': { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (flags.help) {
  const src = readFileSync(__filename, 'utf8');
  process.stdout.write(`${src.slice(src.indexOf('/**') + 4, src.indexOf('*/')).replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}

const list = (s: string | undefined, dflt: string[]) => (s ? s.split(',').map((v) => v.trim()).filter(Boolean) : dflt);
const models = list(flags.models, ALL_MODELS);
const batches = list(flags.batches, flags.quick ? ['1'] : ['1', '4', '8']).map((b) => {
  const n = Number(b);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--batches: "${b}" is not an integer in [1, 64]`);
  return n;
});
const attackReps = flags['attack-reps'] !== undefined ? Number(flags['attack-reps']) : flags.quick ? 1 : 3;
if (!Number.isInteger(attackReps) || attackReps < 1) throw new Error('--attack-reps must be a positive integer');
const threads = Number(flags['torch-threads']);
if (!Number.isInteger(threads) || threads < 1) throw new Error('--torch-threads must be a positive integer');
const policy: RepeatPolicy = flags.quick
  ? { warmup: 1, minReps: 2, maxReps: 3, budgetMs: 1500 }
  : { warmup: 1, minReps: 3, maxReps: 10, budgetMs: 6000 };

const progress = (msg: string) => {
  if (!flags.json) process.stderr.write(`[bench] ${msg}\n`);
};
const mib = (bytes: number) => bytes / (1 << 20);
/** Peak RSS of this process so far in MiB (maxRSS is in KiB on Linux). */
const peakRssMib = () => process.resourceUsage().maxRSS / 1024;

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
    cores: os.cpus().length,
    avx2: has('avx2'),
    avx512f: has('avx512f'),
    memoryGiB: Math.round(mib(os.totalmem()) / 1024),
    platform: `${os.platform()} ${os.release()}`,
  };
}

async function main() {
  const started = performance.now();
  const loadStart = os.loadavg();
  const cpuStart = cpuSeconds();
  const date = new Date().toISOString();
  const backend = await startBackend();
  progress(`backend ${backend.backend} (tfjs ${backend.tfjs}, simd ${backend.wasmSimd}, threads ${backend.wasmThreads})`);

  const { images, source } = await benchImages(flags.images, Math.max(...batches));
  progress(`input: ${source}`);

  const warnings: string[] = [];
  progress(`loading ${models.join(', ')} (compile + warm-up, as the service does)`);
  const { models: loaded, info: loads } = await loadBundled(models, warnings);
  const rssAfterLoad = peakRssMib();
  const tensorsAfterLoad = tf.memory().numTensors;

  const groups: { name: string; members: typeof loaded }[] = loaded.map((m, i) => ({ name: models[i], members: [m] }));
  if (loaded.length > 1) groups.push({ name: 'ensemble', members: loaded });
  const steps: Record<string, StepResult[]> = {};
  for (const g of groups) {
    steps[g.name] = [];
    for (const n of batches) {
      const r = timeStep(g.members, images, n, policy, STEP_TARGET);
      steps[g.name].push(r);
      progress(`${g.name} batch ${n}: ${r.msPerStep.toFixed(0)} ms/step, ${r.imageStepsPerS.toFixed(2)} image-steps/s (median of ${r.reps})`);
    }
  }
  const rssAfterSteps = peakRssMib();

  let attack: AttackResult | null = null;
  if (!flags['no-attack']) {
    progress(`mng-l1 targeted attack, 20 iterations, eps 16, ${images[0].width}x${images[0].height}, ${models.length} model(s), ${attackReps} run(s)`);
    attack = await timeAttack(loaded, images[0], attackReps);
    progress(`attack: ${attack.msAll.map((m) => m.toFixed(0)).join(', ')} ms`);
  }
  const peakRss = peakRssMib();
  const tensorsLeaked = tf.memory().numTensors - tensorsAfterLoad;

  let pytorch: TorchOutcome;
  if (flags['no-pytorch']) pytorch = { runs: [], peer: null, skipped: '--no-pytorch given', notes: [] };
  else {
    pytorch = await runPytorch({ python: flags.python!, models, batches, quick: flags.quick, ensemble: models.length > 1, threads, progress });
  }
  const peerRun = pytorch.runs.find((r) => r.setup === pytorch.peer);
  const ratios: Record<string, { batch: number; ratio: number | null }[]> = {};
  for (const [name, rows] of Object.entries(steps)) {
    ratios[name] = rows.map((r) => {
      const p = peerRun?.results[name]?.find((x) => x.batch === r.batch);
      return { batch: r.batch, ratio: p ? r.imageStepsPerS / p.image_steps_per_s : null };
    });
  }

  const cpuEnd = cpuSeconds();
  const wallS = (performance.now() - started) / 1000;
  // CPU time that other processes took from this machine while the bench ran: a contended
  // run (tests, builds, other benches) makes every number here slower and noisier.
  const otherCpuS = cpuStart && cpuEnd ? Math.max(0, cpuEnd.all - cpuStart.all - (cpuEnd.self - cpuStart.self)) : null;
  const report = {
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
    loads,
    warnings,
    advserve: {
      steps,
      attack,
      peakRssMiB: peakRss,
      rssMiBAfterLoad: rssAfterLoad,
      rssMiBAfterSteps: rssAfterSteps,
      tensorsLeaked,
    },
    pytorch,
    ratios,
    loadavg: { start: loadStart, end: os.loadavg() },
    otherCpuS,
    otherCoresAvg: otherCpuS === null ? null : otherCpuS / wallS,
    wallS,
  };
  for (const m of loaded) m.classifier.dispose();

  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(formatReport(report));
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function formatReport(r: {
  date: string;
  machine: ReturnType<typeof machine>;
  node: string;
  backend: Awaited<ReturnType<typeof startBackend>>;
  command: string;
  input: string;
  loads: { id: string; loadMs: number; fallbacks: string[] }[];
  warnings: string[];
  advserve: { steps: Record<string, StepResult[]>; attack: AttackResult | null; peakRssMiB: number; rssMiBAfterLoad: number; tensorsLeaked: number };
  pytorch: TorchOutcome;
  ratios: Record<string, { batch: number; ratio: number | null }[]>;
  loadavg: { start: number[]; end: number[] };
  otherCpuS: number | null;
  otherCoresAvg: number | null;
  wallS: number;
}): string {
  const out: string[] = [];
  const m = r.machine;
  const isa = [m.avx2 ? 'avx2' : 'no avx2', m.avx512f ? 'avx512f' : 'no avx512'].join(', ');
  out.push(`advserve bench  ${r.date}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores (${isa}), ${m.memoryGiB} GiB; node ${r.node}`);
  out.push(
    `advserve: tfjs ${r.backend.tfjs}, backend ${r.backend.backend} (simd ${r.backend.wasmSimd}, multithread ${r.backend.wasmThreads})`,
  );
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
  out.push('One attack step = forward + input gradient of the target\'s cross-entropy + signed step, on 512x384 user images');
  out.push('(resize to the model size inside the gradient). image-steps/s, median; higher is better. ratio = advserve / peer.');
  const setups = torchRuns.map((t) => t.setup);
  const head = [pad('model', 17), lpad('batch', 5), lpad('advserve', 10), lpad('ms/step', 9), ...setups.map((s) => lpad(`pt ${s}`, Math.max(10, s.length + 3))), lpad('ratio', 7)];
  out.push(head.join('  '));
  for (const [name, rows] of Object.entries(r.advserve.steps)) {
    rows.forEach((row, i) => {
      const cells = [pad(name, 17), lpad(String(row.batch), 5), lpad(row.imageStepsPerS.toFixed(2), 10), lpad(row.msPerStep.toFixed(0), 9)];
      for (const t of torchRuns) {
        const p = (t as TorchRun).results[name]?.find((x) => x.batch === row.batch);
        cells.push(lpad(p ? p.image_steps_per_s.toFixed(2) : '-', Math.max(10, t.setup.length + 3)));
      }
      const ratio = r.ratios[name]?.[i]?.ratio;
      cells.push(lpad(ratio == null ? '-' : ratio.toFixed(2), 7));
      out.push(cells.join('  '));
    });
  }
  out.push('');
  const a = r.advserve.attack;
  if (a) {
    out.push(
      `mng-l1 targeted attack (20 iterations, eps 16, 512x384, ${r.loads.length} model(s), target ${a.target}): ` +
        `${a.msMedian.toFixed(0)} ms median of ${a.msAll.length} [${a.msAll.map((x) => x.toFixed(0)).join(', ')}], ` +
        `success ${a.success.every(Boolean) ? 'yes' : a.success.some(Boolean) ? 'some' : 'no'}, linf ${a.linf}, l2 ${a.l2.toFixed(0)}`,
    );
  } else out.push('attack: skipped (--no-attack)');
  const torchRss = torchRuns.map((t) => `${t.setup} ${t.max_rss_mb.toFixed(0)}`).join(', ');
  out.push(
    `peak RSS: advserve ${r.advserve.peakRssMiB.toFixed(0)} MiB (after model load ${r.advserve.rssMiBAfterLoad.toFixed(0)} MiB)` +
      (torchRss ? `; pytorch ${torchRss} MiB` : ''),
  );
  out.push(`model load + compile + warm-up: ${r.loads.map((l) => `${l.id} ${(l.loadMs / 1000).toFixed(1)} s${l.fallbacks.length ? ` (fallbacks: ${l.fallbacks.join(', ')})` : ''}`).join(', ')}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  if (r.advserve.tensorsLeaked !== 0) out.push(`warning: ${r.advserve.tensorsLeaked} tensor(s) leaked by the timed sections`);
  const other =
    r.otherCoresAvg === null ? 'unknown' : `${r.otherCpuS!.toFixed(0)} CPU-s (${r.otherCoresAvg.toFixed(2)} cores on average)`;
  out.push(`other processes during the run: ${other}; load average ${r.loadavg.start[0].toFixed(2)} at start, ${r.loadavg.end[0].toFixed(2)} at end; wall ${r.wallS.toFixed(0)} s`);
  if (r.otherCoresAvg !== null && r.otherCoresAvg > 0.1) {
    out.push('WARNING: other processes were using the CPU during this run; its numbers are slower and noisier than a quiet machine gives.');
  }
  return `${out.join('\n')}\n`;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
