/**
 * The advserve side of the bench, on the service's own code path:
 *  - models loaded by loadModel on the bundled specs (compile + warm-up), either in a
 *    WorkerPool (what the service runs by default: one wasm worker per core) or in-process
 *    in a LocalRunner (ADVSERVE_WORKERS=0, one thread);
 *  - one attack step per image = runner.directions(model, batch) for each model (each runner
 *    calls gradients.ts's batchDirections: forward + input gradient of the target's
 *    cross-entropy on [N, 384, 512, 3] user-size images, resize inside the gradient), then
 *    a signed step clipped to the eps-box. With k slots (workers), k batches run at once;
 *  - one complete mng-l1 targeted attack through Engine.attack (scheduler and all), optionally
 *    taking turns with the PyTorch peer's same 20 steps (pairedLoops);
 *  - optionally, concurrent attacks against the same in sequence (./concurrent).
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { Engine, ENGINE_DEFAULTS, type EngineOptions } from '../src/engine/engine';
import type { GradRequest } from '../src/engine/gradients';
import { WorkerPool } from '../src/engine/pool/pool';
import { LocalRunner, type GradientRunner } from '../src/engine/runner';
import type { RgbImage } from '../src/images/types';
import { loadPasses, type NetRuntime, type OnnxProvider } from '../src/engine/load-passes';
import type { ModelSpec } from '../src/models/types';
import { runConcurrency, type ConcurrencyResult } from './concurrent';
import type { LoopPairing, TorchLoop } from './pytorch';
import { median, otherCpuProbe, timeRepeated, type RepeatPolicy } from './timing';

/** Iterations of the timed mng-l1 attacks. */
export const ATTACK_ITERS = 20;

export interface LoadInfo {
  id: string;
  loadMs: number;
  fallbacks: string[];
}

export interface StepResult {
  batch: number;
  /** Batches of `batch` images that ran at once (one per worker; 1 in-process). */
  streams: number;
  msPerStep: number;
  imageStepsPerS: number;
  reps: number;
  msAll: number[];
  /** Timed runs thrown away because other processes used the CPU (see ./timing). */
  discarded: number;
  /** Kept runs that were contended anyway. */
  contended: number;
}

export interface AttackResult {
  msMedian: number;
  msAll: number[];
  engineElapsedMs: number[];
  target: string;
  success: boolean[];
  /** Other processes' average CPU use (cores) during each run. */
  otherCores: (number | null)[];
  linf: number;
  l2: number;
  /** sha256 of the output pixels of every run: equal across runners means identical results. */
  outputSha256: string[];
  /** With pairedLoops: each PyTorch setup's loops, timed in turn with these runs (interleaved: true). */
  paired?: Record<string, TorchLoop>;
  /** Why a paired setup is missing or stopped. */
  pairedNotes?: string[];
}

export interface ClassifyResult {
  msMedian: number;
  msAll: number[];
}

export interface BackendInfo {
  backend: string;
  tfjs: string;
  wasmSimd: boolean | null;
  wasmThreads: boolean | null;
}

export interface PhaseResult {
  /** 'pool' (worker threads) or 'in-process'. */
  runner: string;
  slots: number;
  backend: string;
  /** Wall time to start the runner: load + compile + warm-up of every model (in every worker). */
  startMs: number;
  loads: LoadInfo[];
  steps: Record<string, StepResult[]>;
  attack: AttackResult | null;
  /** Engine.classify of one image on every model (probability passes; in onnxruntime they cost a full gradient pass). */
  classify: ClassifyResult | null;
  /** Highest RSS sampled during this phase (every 100 ms and after every timed step), MiB. */
  rssPeakMiB: number;
  /** The same, over the start-up and the step rows only (before any attack), MiB. */
  stepsRssPeakMiB: number;
  /** Sequential vs concurrent attacks on this phase's engine (PhaseOptions.concurrency), else null. */
  concurrency: ConcurrencyResult | null;
}

/** The main thread's tfjs backend: the engine's attack arithmetic runs there in every configuration. */
export async function startBackend(): Promise<BackendInfo> {
  const backend = await initBackend('wasm');
  const flag = (name: string): boolean | null => {
    try {
      return tf.env().getBool(name);
    } catch {
      return null;
    }
  };
  return { backend, tfjs: tf.version.tfjs, wasmSimd: flag('WASM_HAS_SIMD_SUPPORT'), wasmThreads: flag('WASM_HAS_MULTITHREAD_SUPPORT') };
}

type RunnerOptions = Pick<PhaseOptions, 'workers' | 'specs' | 'backend' | 'warnings' | 'wasmThreads' | 'microBatch' | 'runtime' | 'onnxWideThreads' | 'onnxProvider' | 'forwardMaxBytes'>;

async function startRunner(o: RunnerOptions): Promise<{ runner: GradientRunner; loads: LoadInfo[] }> {
  const { workers, specs, backend, warnings, microBatch, runtime, onnxWideThreads, onnxProvider = 'cpu', forwardMaxBytes } = o;
  const wasmThreads = workers > 0 ? o.wasmThreads : 1;
  if (workers > 0) {
    const loadMs: number[] = [];
    const pool = await WorkerPool.start(workers, 'wasm', specs, {
      info: (obj: { loadMs?: number }) => {
        if (typeof obj.loadMs === 'number') loadMs.push(obj.loadMs);
      },
      error: (obj: object, msg: string) => warnings.push(`${msg} ${JSON.stringify(obj)}`),
    }, { wasmThreads, onnxWideThreads, microBatch, runtime, onnxProvider, forwardMaxBytes });
    // Workers report one load time for all their models together.
    const loads = specs.map((s) => ({ id: s.id, loadMs: NaN, fallbacks: pool.fallbacks[s.id] ?? [] }));
    if (loadMs.length) loads.unshift({ id: `all models, per worker (${loadMs.map((m) => (m / 1000).toFixed(1)).join(' s, ')} s)`, loadMs: Math.max(...loadMs), fallbacks: [] });
    return { runner: pool, loads };
  }
  const local = new LocalRunner(backend, microBatch);
  const loads: LoadInfo[] = [];
  const log = { info: () => undefined, warn: (obj: object, msg: string) => warnings.push(`${msg} ${JSON.stringify(obj)}`) };
  for (const spec of specs) {
    const loaded = await loadPasses(spec, log, { runtime, backend, threads: wasmThreads, microBatch, onnxProvider, forwardMaxBytes });
    local.add(loaded.passes);
    loads.push({ id: spec.id, loadMs: loaded.loadMs, fallbacks: loaded.fallbacks });
  }
  return { runner: local, loads };
}

/** One batch of n images being attacked: current pixels and the eps-box, as the engine keeps them. */
interface Stream {
  x: Float32Array[];
  lower: Float32Array[];
  upper: Float32Array[];
}

function makeStream(images: RgbImage[], n: number, offset: number, eps: number): Stream {
  const pick = Array.from({ length: n }, (_, i) => images[(offset + i) % images.length]);
  return {
    x: pick.map((img) => Float32Array.from(img.rgb)),
    lower: pick.map((img) => Float32Array.from(img.rgb, (v) => Math.max(0, v - eps))),
    upper: pick.map((img) => Float32Array.from(img.rgb, (v) => Math.min(255, v + eps))),
  };
}

/** One attack step for a stream: every model's directions (one batched pass each), then x += sign(mean). */
async function stepStream(runner: GradientRunner, models: string[], s: Stream, h: number, w: number, target: number): Promise<void> {
  const reqs: GradRequest[] = s.x.map((image) => ({ image, height: h, width: w, cls: target, towards: true }));
  const perModel = await Promise.all(models.map((m) => runner.directions(m, reqs)));
  for (let i = 0; i < s.x.length; i++) {
    const x = s.x[i];
    const lo = s.lower[i];
    const hi = s.upper[i];
    for (let j = 0; j < x.length; j++) {
      let d = 0;
      for (const dirs of perModel) d += dirs[i][j];
      const v = x[j] + Math.sign(d);
      x[j] = v < lo[j] ? lo[j] : v > hi[j] ? hi[j] : v;
    }
  }
}

export interface PhaseOptions {
  workers: number;
  /** XNNPACK threads per worker (ADVSERVE_WASM_THREADS); the in-process phase always runs 1. */
  wasmThreads: number;
  /** Most images per network pass (ADVSERVE_MICRO_BATCH). */
  microBatch: number;
  /** onnxruntime's threads for a large network's session (ADVSERVE_ONNX_WIDE_THREADS); absent: wasmThreads. Pool phases only. */
  onnxWideThreads?: number;
  /** What runs the networks (ADVSERVE_RUNTIME). */
  runtime: NetRuntime;
  /** Where onnxruntime runs them (ADVSERVE_ONNX_PROVIDER); default cpu. */
  onnxProvider?: OnnxProvider;
  /** Forward-only sessions for networks with at most this many bytes of weights (ADVSERVE_FORWARD_SESSION_MAX_MB); default none. */
  forwardMaxBytes?: number;
  specs: ModelSpec[];
  backend: string;
  images: RgbImage[];
  batches: number[];
  policy: RepeatPolicy;
  /** Class the step's cross-entropy aims at. */
  target: number;
  /** Complete attacks to time through Engine.attack (0: none). */
  attackReps: number;
  progress: (msg: string) => void;
  warnings: string[];
  /** With several models: time only the ensemble's step, not each model's alone (default false). */
  ensembleOnly?: boolean;
  /** The engine's options (engineOptions(config), as the service builds it); default ENGINE_DEFAULTS. */
  engineOptions?: Partial<EngineOptions>;
  /** After the timed attacks: `jobs` attacks of `iterations` in sequence, then at once (bench/concurrent.ts). */
  concurrency?: { jobs: number; iterations: number };
  /**
   * The PyTorch peer's loops to time in turn with the timed attacks: each attack takes turns with
   * one loop of every setup (none runs during the step rows or the concurrency section).
   */
  pairedLoops?: () => Promise<LoopPairing>;
}

export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  let rssPeak = process.memoryUsage.rss();
  const sample = () => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  };
  const sampler = setInterval(sample, 100);
  sampler.unref();
  const label = o.workers > 0 ? `pool of ${o.workers} worker(s) x ${o.wasmThreads} thread(s), runtime ${o.runtime}` : 'in-process (1 thread)';
  try {
    const t0 = performance.now();
    o.progress(`${label}: loading ${o.specs.map((s) => s.id).join(', ')} (compile + warm-up, as the service does)`);
    const { runner, loads } = await startRunner(o);
    const startMs = performance.now() - t0;
    const { slots, backend } = runner; // read now: a disposed pool has no workers
    sample();
    const ids = o.specs.map((s) => s.id);
    const ensembleOnly = !!o.ensembleOnly && ids.length > 1;
    const groups = ensembleOnly ? [] : ids.map((id) => ({ name: id, members: [id] }));
    if (ids.length > 1) groups.push({ name: 'ensemble', members: ids });
    const { height: h, width: w } = o.images[0];
    const steps: Record<string, StepResult[]> = {};
    for (const g of groups) {
      steps[g.name] = [];
      for (const n of o.batches) {
        const streams = Array.from({ length: runner.slots }, (_, k) => makeStream(o.images, n, k * n, 16));
        // The ensemble's passes are the single models' passes at sizes they have already run: no warm-up.
        // (With ensembleOnly they have not: the warm-up stays.)
        const policy = g.members.length > 1 && ids.length > 1 && !ensembleOnly ? { ...o.policy, warmup: 0 } : o.policy;
        const timed = await timeRepeated(async () => {
          await Promise.all(streams.map((s) => stepStream(runner, g.members, s, h, w, o.target)));
          sample();
        }, policy);
        const msPerStep = median(timed.ms);
        const r: StepResult = {
          batch: n,
          streams: streams.length,
          msPerStep,
          imageStepsPerS: (n * streams.length * 1000) / msPerStep,
          reps: timed.ms.length,
          msAll: timed.ms.map((m) => Math.round(m * 10) / 10),
          discarded: timed.discarded,
          contended: timed.contended,
        };
        steps[g.name].push(r);
        const busy = r.discarded || r.contended ? `; ${r.discarded} contended run(s) redone, ${r.contended} kept` : '';
        o.progress(
          `${label}: ${g.name} batch ${n}${streams.length > 1 ? ` x${streams.length}` : ''}: ${msPerStep.toFixed(0)} ms/step, ` +
            `${r.imageStepsPerS.toFixed(2)} image-steps/s (median of ${r.reps}${busy})`,
        );
      }
    }

    const stepsRssPeak = rssPeak;
    let attack: AttackResult | null = null;
    let classify: ClassifyResult | null = null;
    let concurrency: ConcurrencyResult | null = null;
    const engine = new Engine(runner, { ...ENGINE_DEFAULTS, ...o.engineOptions }, o.backend);
    try {
      if (o.attackReps > 0) {
        const image = o.images[0];
        o.progress(`${label}: mng-l1 targeted attack, 20 iterations, eps 16, ${image.width}x${image.height}, ${ids.length} model(s), ${o.attackReps} run(s)`);
        const pairing = o.pairedLoops ? await o.pairedLoops() : undefined;
        attack = await timeAttack(engine, ids, image, o.attackReps, pairing);
        o.progress(`${label}: attack ${attack.msAll.map((m) => m.toFixed(0)).join(', ')} ms`);
        for (const [setup, l] of Object.entries(attack.paired ?? {})) o.progress(`${label}: PyTorch ${setup}, in turn: ${l.ms_all.map((m) => m.toFixed(0)).join(', ')} ms`);
        classify = await timeClassify(engine, ids, image, 5);
        o.progress(`${label}: classify ${classify.msAll.map((m) => m.toFixed(0)).join(', ')} ms`);
      }
      if (o.concurrency) {
        const { jobs, iterations } = o.concurrency;
        const images = Array.from({ length: jobs }, (_, i) => o.images[i % o.images.length]);
        o.progress(`${label}: ${jobs} mng-l1 attacks x ${iterations} iterations, one after another, then all at once`);
        concurrency = await runConcurrency(engine, images, iterations, ids);
        sample();
        o.progress(
          `${label}: sequential ${(concurrency.sequential.wallMs / 1000).toFixed(1)} s, concurrent ${(concurrency.concurrent.wallMs / 1000).toFixed(1)} s, ` +
            `identical bytes: ${concurrency.identical ? 'yes' : 'no'}`,
        );
      }
    } finally {
      sample();
      await engine.dispose(); // disposes the runner (terminates workers, frees models)
    }
    return {
      runner: o.workers > 0 ? 'pool' : 'in-process',
      slots,
      backend,
      startMs,
      loads,
      steps,
      attack,
      classify,
      rssPeakMiB: rssPeak / (1 << 20),
      stepsRssPeakMiB: stepsRssPeak / (1 << 20),
      concurrency,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** One image classified by every model, `reps` times after one untimed call: the latency of /v1/classify's work. */
async function timeClassify(engine: Engine, models: string[], image: RgbImage, reps: number): Promise<ClassifyResult> {
  await engine.classify(image, { models, topK: 5 });
  const msAll: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await engine.classify(image, { models, topK: 5 });
    msAll.push(performance.now() - t0);
  }
  return { msMedian: median(msAll), msAll };
}

/**
 * Complete mng-l1 targeted attacks (20 iterations, eps 16) through Engine.attack; with a pairing,
 * each attack takes turns with one loop of every PyTorch setup in it.
 */
async function timeAttack(engine: Engine, models: string[], image: RgbImage, reps: number, pairing?: LoopPairing): Promise<AttackResult> {
  // Aim at the class the clean image is least likely to be: a real targeted attack, not a no-op.
  const clean = await engine.classify(image, { models, topK: 100 });
  const least = clean.ensemble.top[clean.ensemble.top.length - 1];
  const msAll: number[] = [];
  const engineElapsedMs: number[] = [];
  const success: boolean[] = [];
  const otherCores: (number | null)[] = [];
  let linf = 0;
  let l2 = 0;
  const outputSha256: string[] = [];
  const peers = new Map((pairing?.runners ?? []).map((s) => [s.setup, { runner: s, ms: [] as number[], others: [] as (number | null)[] }]));
  const pairedNotes = [...(pairing?.notes ?? [])];
  const runPeers = async () => {
    for (const [setup, p] of peers) {
      await settle();
      try {
        const r = await p.runner.loop(pairing!.name);
        p.ms.push(r.ms);
        p.others.push(r.otherCores);
      } catch (err) {
        pairedNotes.push(`${setup} stopped: ${(err as Error).message}`);
        peers.delete(setup);
      }
    }
    await settle();
  };
  for (let i = 0; i < reps; i++) {
    // Turns alternate, so that neither side always runs first after the other.
    if (i % 2 === 1) await runPeers();
    const probe = otherCpuProbe();
    const t0 = performance.now();
    const out = await engine.attack(image, { method: 'mng-l1', eps: 16, iterations: ATTACK_ITERS, targeted: true, target: least.index, models, seed: 0 });
    msAll.push(performance.now() - t0);
    otherCores.push(probe());
    engineElapsedMs.push(out.elapsedMs);
    success.push(out.success);
    linf = out.linf;
    l2 = out.l2;
    outputSha256.push(createHash('sha256').update(out.image.rgb).digest('hex'));
    if (i % 2 === 0) await runPeers();
  }
  const paired: Record<string, TorchLoop> = {};
  for (const [setup, p] of peers) {
    if (p.ms.length === reps) paired[setup] = { iters: ATTACK_ITERS, batch: 1, ms_median: median(p.ms), ms_all: p.ms, other_cores: p.others, interleaved: true };
  }
  return {
    msMedian: median(msAll),
    msAll,
    engineElapsedMs,
    target: least.label,
    success,
    otherCores,
    linf,
    l2,
    outputSha256,
    ...(pairing ? { paired, pairedNotes } : {}),
  };
}

/** A pause between one side's timed run and the other's: lets the side that just ran park its threads. */
const settle = () => new Promise((res) => setTimeout(res, 200));
