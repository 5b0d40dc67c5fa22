/**
 * The ImageNet part of `npm run bench -- --imagenet [--shared DIR]`: advserve on model folders
 * made from ../shared by scripts/shared-models.ts (in a temp dir, links only), beside PyTorch
 * running the same trained float MobileNetV2.
 *
 *  (a) `mobilenet_v2_torch_float` alone: the ONNX that PyTorch exported, loaded from its folder
 *      (mean/std normalisation, NCHW, torchvision-style centre crop), stepped by the service's
 *      runner at each batch, and one 20-iteration mng-l1 targeted attack through Engine.attack;
 *  (b) the ImageNet ensemble mobilenet_v2_torch_float + mobilenet_v2_100_224_quant_hosted +
 *      mobilenet_v1_075_192_quant (the two TF ones are tfjs layers models with a background
 *      class), stepped as an ensemble (one gradient per model) and attacked the same way;
 *  (c) PyTorch: torchvision's mobilenet_v2() with shared/onnx/mobilenet_v2_torch_float/state_dict.pt,
 *      the same step (bench/pytorch_step.py, same centre crop and normalisation) at each batch,
 *      and 20 consecutive batch-1 steps (the network work of the 20-iteration attack).
 * PyTorch has no twin for the two TF models, so the ensemble rows have no ratio.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { readFolderSpec } from '../src/models/registry';
import type { NetRuntime, OnnxProvider } from '../src/engine/load-passes';
import type { RgbImage } from '../src/images/types';
import { makeSharedModelFolders, SHARED } from '../scripts/shared-models';
import type { EngineOptions } from '../src/engine/engine';
import { ATTACK_ITERS, runPhase, type PhaseResult } from './advserve';
import { countFlops, type HostPeak, type ModelFlops } from './flops';
import { advserveFlopRows, attackFigure, concurrencyFigure, fastestBatchRow, fastestLoop, flopTable, goals, memoryFigure, sgemmLine, torchFlopRows, type Goals } from './summary';
import { runPytorch, loopRunners, type LoopPairing, type TorchOutcome } from './pytorch';
import type { RepeatPolicy } from './timing';

export const IMAGENET_SINGLE = 'mobilenet_v2_torch_float';
export const IMAGENET_ENSEMBLE = [IMAGENET_SINGLE, 'mobilenet_v2_100_224_quant_hosted', 'mobilenet_v1_075_192_quant'];
/** Class index (sorted-wnid order, background dropped) the timed steps descend: 3 = n01491361 tiger shark. */
export const IMAGENET_STEP_TARGET = 3;

export interface ImagenetOptions {
  /** ../shared (default: scripts/shared-models.ts's SHARED). */
  shared?: string;
  workers: number;
  wasmThreads: number;
  /** ADVSERVE_ONNX_WIDE_THREADS of the service split. */
  onnxWideThreads?: number;
  /** Cores for the one-single-threaded-worker-per-core column; 0: no such column. */
  perCoreWorkers: number;
  microBatch: number;
  runtime: NetRuntime;
  /** ADVSERVE_ONNX_PROVIDER; default cpu. */
  onnxProvider?: OnnxProvider;
  /** ADVSERVE_FORWARD_SESSION_MAX_MB, in bytes; default none. */
  forwardMaxBytes?: number;
  backend: string;
  images: RgbImage[];
  batches: number[];
  policy: RepeatPolicy;
  attackReps: number;
  /** The engine's options (engineOptions(config)). */
  engineOptions?: Partial<EngineOptions>;
  /** Concurrent against sequential attacks on the service split's engines (single model and ensemble). */
  concurrency?: { jobs: number; iterations: number };
  /** Count each model's FLOPs from its compiled graph (main thread, after the timed phases). */
  countFlops?: boolean;
  /** The host's peak, for the goal figures' % of peak. */
  peak: HostPeak;
  /** null: no PyTorch run (--no-pytorch). */
  torch: { python: string; threads: number; quick: boolean; maxOtherCores: number; referenceBlas: boolean } | null;
  progress: (msg: string) => void;
  warnings: string[];
}

export interface ImagenetPhases {
  /** The service's split. */
  service: PhaseResult;
  /** One single-threaded worker per core; null when not timed. */
  perCore: PhaseResult | null;
}

export interface ImagenetReport {
  shared: string;
  /** Why the part was skipped (../shared or a model missing); the rest is then absent. */
  skipped?: string;
  single?: ImagenetPhases;
  ensemble?: ImagenetPhases;
  pytorch?: TorchOutcome;
  /** advserve image-steps/s / PyTorch peer's, for mobilenet_v2_torch_float at each batch. */
  ratios?: { batch: number; service: number | null; perCore: number | null }[];
  /** Per model of the ensemble, from the compiled graph (bench/flops.ts); absent with countFlops false. */
  flops?: ModelFlops[];
  /** The goal figures' numbers on the service's split (PyTorch ratios for the single model only). */
  goals?: { single: Goals; ensemble: Goals };
  /** PyTorch peer's 20 batch-1 steps (ms) / advserve's 20-iteration attack (ms), single model. */
  attackRatio?: { pytorchMs: number | null; service: number | null; perCore: number | null };
}

export async function runImagenet(o: ImagenetOptions): Promise<ImagenetReport> {
  const shared = resolve(o.shared ?? SHARED);
  const stateDict = join(shared, 'onnx', IMAGENET_SINGLE, 'state_dict.pt');
  const missing = [join(shared, 'models/catalog.json'), join(shared, 'onnx', IMAGENET_SINGLE, 'model.onnx'), stateDict].filter((p) => !existsSync(p));
  if (missing.length) return { shared, skipped: `${missing.join(', ')} not found` };

  const dir = mkdtempSync(join(os.tmpdir(), 'advserve-bench-imagenet-'));
  try {
    const made = makeSharedModelFolders(dir, shared);
    const absent = IMAGENET_ENSEMBLE.filter((id) => !made.has(id));
    if (absent.length) return { shared, skipped: `no model folder made for ${absent.join(', ')}` };
    const specs = await Promise.all(IMAGENET_ENSEMBLE.map((id) => readFolderSpec(made.get(id)!)));
    o.progress(`imagenet: model folders in ${dir} from ${shared}`);

    const common = {
      microBatch: o.microBatch,
      runtime: o.runtime,
      onnxProvider: o.onnxProvider,
      forwardMaxBytes: o.forwardMaxBytes,
      backend: o.backend,
      images: o.images,
      batches: o.batches,
      policy: o.policy,
      target: IMAGENET_STEP_TARGET,
      attackReps: o.attackReps,
      engineOptions: o.engineOptions,
      progress: (m: string) => o.progress(`imagenet: ${m}`),
      warnings: o.warnings,
    };
    const torchArgs = ['--state-dict', stateDict, '--target', String(IMAGENET_STEP_TARGET), '--loop-iters', String(ATTACK_ITERS)];
    // The single model's goal: PyTorch's loops in turn with the service's timed attacks (see bench/advserve.ts).
    const pairedLoops =
      o.torch && o.attackReps > 0
        ? async (): Promise<LoopPairing> => ({
            name: IMAGENET_SINGLE,
            ...(loopRunners({ ...o.torch!, referenceBlas: false, models: [IMAGENET_SINGLE], batches: o.batches, ensemble: false, progress: common.progress, extraArgs: torchArgs })),
          })
        : undefined;
    const phases = async (s: typeof specs, ensembleOnly: boolean, paired?: typeof pairedLoops): Promise<ImagenetPhases> => ({
      service: await runPhase({ ...common, specs: s, ensembleOnly, workers: o.workers, wasmThreads: o.wasmThreads, onnxWideThreads: o.onnxWideThreads, concurrency: o.concurrency, pairedLoops: paired }),
      perCore: o.perCoreWorkers > 0 ? await runPhase({ ...common, specs: s, ensembleOnly, workers: o.perCoreWorkers, wasmThreads: 1 }) : null,
    });
    const single = await phases([specs[0]], false, pairedLoops);
    const ensemble = await phases(specs, true);

    let pytorch: TorchOutcome;
    if (!o.torch) pytorch = { runs: [], peer: null, skipped: '--no-pytorch given', notes: [] };
    else {
      pytorch = await runPytorch({
        ...o.torch,
        models: [IMAGENET_SINGLE],
        batches: o.batches,
        ensemble: false,
        progress: common.progress,
        extraArgs: [...torchArgs, '--loop-reps', String(Math.max(1, o.attackReps))],
      });
      if (pytorch.skipped) process.stderr.write(`PyTorch column skipped (imagenet): ${pytorch.skipped}\n`);
    }
    const peer = pytorch.runs.find((r) => r.setup === pytorch.peer);
    const ratios = single.service.steps[IMAGENET_SINGLE].map((r) => {
      const p = peer?.results[IMAGENET_SINGLE]?.find((x) => x.batch === r.batch);
      const split = single.perCore?.steps[IMAGENET_SINGLE]?.find((x) => x.batch === r.batch);
      return {
        batch: r.batch,
        service: p ? r.imageStepsPerS / p.image_steps_per_s : null,
        perCore: p && split ? split.imageStepsPerS / p.image_steps_per_s : null,
      };
    });
    // Against PyTorch's fastest loop, as the goal figures (summary.ts fastestLoop): for the
    // service's attacks, the loops timed in turn with them where there are some.
    const serviceLoopMs = fastestLoop(pytorch.runs, IMAGENET_SINGLE, single.service.attack)?.loop.ms_median ?? null;
    const loopMs = fastestLoop(pytorch.runs, IMAGENET_SINGLE)?.loop.ms_median ?? null;
    const attackRatio = {
      pytorchMs: serviceLoopMs,
      service: serviceLoopMs !== null && single.service.attack ? serviceLoopMs / single.service.attack.msMedian : null,
      perCore: loopMs !== null && single.perCore?.attack ? loopMs / single.perCore.attack.msMedian : null,
    };
    const flops: ModelFlops[] = [];
    if (o.countFlops) {
      common.progress('counting FLOPs from the compiled graphs');
      for (const spec of specs) flops.push(await countFlops(spec));
    }
    const members = { ensemble: IMAGENET_ENSEMBLE };
    const goalsOf = (p: ImagenetPhases, withTorch: boolean) =>
      goals(
        {
          phase: p.service,
          loop: withTorch ? fastestLoop(pytorch.runs, IMAGENET_SINGLE, p.service.attack) : undefined,
          batch: withTorch ? fastestBatchRow(pytorch.runs, IMAGENET_SINGLE) : undefined,
          advFlops: flops.length ? advserveFlopRows(p.service.steps, flops, members) : [],
          torchFlops: withTorch && flops.length ? torchFlopRows(peer, members) : [],
          batches: o.batches,
        },
        o.peak,
      );
    const summary = { single: goalsOf(single, true), ensemble: goalsOf(ensemble, false) };
    return { shared, single, ensemble, pytorch, ratios, attackRatio, goals: summary, ...(o.countFlops ? { flops } : {}) };
  } finally {
    rmSync(dir, { recursive: true, force: true }); // links and advserve.json only
  }
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const rate = (v: number | undefined, contended?: number) => (v === undefined ? '-' : v.toFixed(2) + (contended ? '*' : ' '));
const ratio = (v: number | null | undefined) => (v == null ? '-' : v.toFixed(2));
const secs = (ms: number) => (ms / 1000).toFixed(2);

/** The ImageNet section of the text report. */
export function formatImagenet(r: ImagenetReport, maxOtherCores: number, host: HostPeak): string {
  const out: string[] = [];
  out.push(`ImageNet models from ${r.shared} (folders made by scripts/shared-models.ts):`);
  if (r.skipped || !r.single || !r.ensemble || !r.pytorch) {
    out.push(`ImageNet part skipped: ${r.skipped ?? 'not run'}`);
    return `${out.join('\n')}\n`;
  }
  const { single, ensemble, pytorch } = r;
  const torchRuns = pytorch.runs;
  if (pytorch.skipped) out.push(`PyTorch column skipped: ${pytorch.skipped}`);
  for (const n of pytorch.notes) if (!pytorch.skipped?.includes(n)) out.push(`note: ${n}`);
  if (torchRuns.length) {
    const t = torchRuns[0];
    out.push(
      `pytorch: torchvision mobilenet_v2() + state_dict.pt (the trained twin of ${IMAGENET_SINGLE}), torch ${t.torch}, ` +
        `${t.threads} threads; peer: ${pytorch.peer ?? '-'}`,
    );
  }
  const svc = single.service;
  const names = {
    service: svc.runner === 'pool' ? `service ${svc.slots}W` : 'in-process',
    perCore: single.perCore ? `${single.perCore.slots} workers x 1` : '',
  };
  out.push(
    `Step target: class index ${IMAGENET_STEP_TARGET}; image-steps/s, median; "${names.service}" = the service's split` +
      (single.perCore ? `, "${names.perCore}" = one single-threaded worker per core` : '') +
      (torchRuns.length ? '; ratio = advserve / PyTorch peer.' : '.'),
  );
  const w = (s: string) => Math.max(9, s.length);
  const head = [pad('model', 26), lpad('batch', 5), lpad(names.service, w(names.service))];
  if (single.perCore) head.push(lpad(names.perCore, w(names.perCore)));
  for (const t of torchRuns) head.push(lpad(`pt ${t.setup}`, w(`pt ${t.setup}`)));
  if (torchRuns.length) {
    head.push(lpad('ratio svc', 9));
    if (single.perCore) head.push(lpad(`ratio ${single.perCore.slots}x1`, 9));
  }
  out.push(head.join('  '));
  let anyContended = false;
  const rows = (phases: ImagenetPhases, group: string, label: string, withTorch: boolean) => {
    phases.service.steps[group]?.forEach((row, i) => {
      const cells = [pad(label, 26), lpad(String(row.batch), 5)];
      anyContended ||= !!row.contended;
      cells.push(lpad(rate(row.imageStepsPerS, row.contended), w(names.service)));
      if (phases.perCore) {
        const s = phases.perCore.steps[group]?.find((x) => x.batch === row.batch);
        anyContended ||= !!s?.contended;
        cells.push(lpad(rate(s?.imageStepsPerS, s?.contended), w(names.perCore)));
      }
      for (const t of torchRuns) {
        const p = withTorch ? t.results[IMAGENET_SINGLE]?.find((x) => x.batch === row.batch) : undefined;
        anyContended ||= !!p?.contended;
        cells.push(lpad(rate(p?.image_steps_per_s, p?.contended), w(`pt ${t.setup}`)));
      }
      if (torchRuns.length) {
        const q = withTorch ? r.ratios?.[i] : undefined;
        cells.push(lpad(ratio(q?.service), 9));
        if (phases.perCore) cells.push(lpad(ratio(q?.perCore), 9));
      }
      out.push(cells.join('  '));
    });
  };
  rows(single, IMAGENET_SINGLE, IMAGENET_SINGLE, true);
  rows(ensemble, 'ensemble', `imagenet ensemble (${IMAGENET_ENSEMBLE.length})`, false);
  if (anyContended) out.push('* some timed runs in this cell had other processes using the CPU (retry budget spent).');
  out.push(`ensemble = ${IMAGENET_ENSEMBLE.join(' + ')} (PyTorch has no twin for the two TF models: no ratio).`);

  const attack = (p: PhaseResult | null, what: string, name: string) => {
    const a = p?.attack;
    if (!a) return;
    const busy = a.otherCores.some((c) => c !== null && c > maxOtherCores)
      ? ` (other processes used ${a.otherCores.map((c) => (c === null ? '?' : c.toFixed(2))).join(', ')} cores)`
      : '';
    out.push(
      `  ${what}, ${name}: ${secs(a.msMedian)} s median of ${a.msAll.length} [${a.msAll.map(secs).join(', ')}], target ${a.target}, ` +
        `success ${a.success.every(Boolean) ? 'yes' : a.success.some(Boolean) ? 'some' : 'no'}, linf ${a.linf}${busy}`,
    );
  };
  if (single.service.attack) {
    out.push(`mng-l1 targeted attack through Engine.attack (${ATTACK_ITERS} iterations, eps 16, 512x384):`);
    attack(single.service, IMAGENET_SINGLE, names.service);
    attack(single.perCore, IMAGENET_SINGLE, names.perCore);
    attack(ensemble.service, `imagenet ensemble (${IMAGENET_ENSEMBLE.length})`, names.service);
    attack(ensemble.perCore, `imagenet ensemble (${IMAGENET_ENSEMBLE.length})`, names.perCore);
    for (const t of torchRuns) {
      const l = t.loop?.[IMAGENET_SINGLE];
      if (l) out.push(`  PyTorch ${t.setup}: ${l.iters} steps at batch 1 on one image: ${secs(l.ms_median)} s median of ${l.ms_all.length} [${l.ms_all.map(secs).join(', ')}]`);
    }
    for (const [setup, l] of Object.entries(single.service.attack.paired ?? {})) {
      out.push(`  PyTorch ${setup}, in turn with ${names.service}'s attacks: ${secs(l.ms_median)} s median of ${l.ms_all.length} [${l.ms_all.map(secs).join(', ')}]`);
    }
    for (const n of single.service.attack.pairedNotes ?? []) out.push(`  PyTorch in turn: ${n}`);
    const ar = r.attackRatio;
    if (ar?.pytorchMs != null) {
      out.push(
        `  ratio PyTorch's fastest time / advserve time (${IMAGENET_SINGLE}): ${names.service} ${ratio(ar.service)}${single.service.attack.paired && Object.keys(single.service.attack.paired).length ? ' (PyTorch in turn)' : ''}` +
          (single.perCore ? `, ${names.perCore} ${ratio(ar.perCore)}` : ''),
      );
    }
  } else out.push('attack: skipped (--no-attack)');
  const rss = (p: ImagenetPhases) =>
    `${names.service} ${p.service.rssPeakMiB.toFixed(0)} MiB` + (p.perCore ? `, ${names.perCore} ${p.perCore.rssPeakMiB.toFixed(0)} MiB` : '');
  out.push(`peak RSS (sampled): ${IMAGENET_SINGLE}: ${rss(single)}; ensemble: ${rss(ensemble)}`);
  out.push(
    `start-up (load + warm-up): ${IMAGENET_SINGLE} ${secs(single.service.startMs)} s, ensemble ${secs(ensemble.service.startMs)} s (${names.service})`,
  );
  out.push('', ...imagenetGoals(r, host, maxOtherCores));
  return `${out.join('\n')}\n`;
}

/** The goal figures of the ImageNet part (bench/summary.ts): the peer is PyTorch's trained mobilenet_v2 only. */
function imagenetGoals(r: ImagenetReport, host: HostPeak, maxOtherCores: number): string[] {
  const { single, ensemble, pytorch } = r;
  if (!single || !ensemble || !pytorch) return [];
  const peer = pytorch.runs.find((t) => t.setup === pytorch.peer);
  const noPeer = pytorch.skipped ?? 'not run';
  const noTwin = `no PyTorch twin for the two TF models (the peer runs ${IMAGENET_SINGLE} only)`;
  const ens = `imagenet ensemble (${IMAGENET_ENSEMBLE.length})`;
  const loop = fastestLoop(pytorch.runs, IMAGENET_SINGLE, single.service.attack);
  const batch = fastestBatchRow(pytorch.runs, IMAGENET_SINGLE);
  const out = [
    `Goal figures, ImageNet (service split; PyTorch: torchvision mobilenet_v2 with ${IMAGENET_SINGLE}'s state_dict, its fastest setup for each figure, named):`,
    `1. ${attackFigure(`one attack, ${IMAGENET_SINGLE}`, single.service.attack, loop?.loop, loop?.setup ?? null, maxOtherCores, noPeer)}`,
    `   ${attackFigure(`one attack, ${ens}`, ensemble.service.attack, undefined, null, maxOtherCores, noTwin)}`,
    ...concurrencyFigure(`2. ${IMAGENET_SINGLE}`, single.service.concurrency, batch?.row, batch?.setup ?? null, noPeer, single.service.steps[IMAGENET_SINGLE]),
    ...concurrencyFigure(`   ${ens}`, ensemble.service.concurrency, undefined, null, noTwin, ensemble.service.steps.ensemble),
  ];
  if (r.flops && r.goals) {
    out.push(`4. GFLOP/s against the host's peak (${host.gflops === null ? 'peak unknown' : `${host.gflops.toFixed(0)} GFLOP/s`}; 1 image-step = 4 x forward multiply-adds):`);
    const adv = [...r.goals.single.gflops.advserve, ...r.goals.ensemble.gflops.advserve];
    out.push(...flopTable([{ who: 'advserve', rows: adv }, { who: `pt ${pytorch.peer ?? '-'}`, rows: r.goals.single.gflops.pytorch }], host).map((l) => `   ${l}`));
    const ceiling = sgemmLine(peer, host);
    if (ceiling) out.push(`   ${ceiling}`);
  }
  out.push(`5. ${memoryFigure(ensemble.service, r.ensemble?.service.steps.ensemble?.map((x) => x.batch) ?? [], `memory, ${ens}`)}`);
  return out;
}
