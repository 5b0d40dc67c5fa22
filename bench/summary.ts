/**
 * The goal figures of `npm run bench` (docs/PERFORMANCE.md, "Goal figures"), as lines of text:
 * one attack against PyTorch's same 20 steps, concurrent against sequential attacks (with
 * output bytes compared) and against PyTorch's batch-8 step throughput, achieved GFLOP/s
 * against the host's peak, and the worker's peak RSS at batch 8. Shared by the bundled-model
 * report (bench.ts) and the ImageNet part (imagenet.ts).
 */
import type { PhaseResult, StepResult } from './advserve';
import type { ConcurrencyResult } from './concurrent';
import type { HostPeak, ModelFlops } from './flops';
import { PEER_SETUPS, type TorchLoop, type TorchRun, type TorchStep } from './pytorch';

const secs = (ms: number) => (ms / 1000).toFixed(2);
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** "≥ 1.0 means advserve is faster" ratios, or "-". */
const ratio = (v: number | null | undefined) => (v == null || !Number.isFinite(v) ? '-' : v.toFixed(2));

/** " (contended: ...)" when other processes used more than maxOtherCores during any of the runs. */
function busy(others: (number | null)[], maxOtherCores: number): string {
  if (!others.some((c) => c !== null && c > maxOtherCores)) return '';
  return ` (contended: other processes used ${others.map((c) => (c === null ? '?' : c.toFixed(2))).join(', ')} cores)`;
}

/** PyTorch's time for the attack's steps / advserve's attack time (>= 1: advserve faster), or null. */
export const attackRatio = (attack: PhaseResult['attack'], loop: TorchLoop | undefined) => (attack && loop ? loop.ms_median / attack.msMedian : null);

/** advserve's concurrent image-steps/s / PyTorch's step row's, or null. */
export const concurrentVsTorch = (c: ConcurrencyResult | null, pt: TorchStep | undefined) =>
  c && pt ? c.concurrentImageStepsPerS / pt.image_steps_per_s : null;

/** 1. One attack: advserve's median against PyTorch's `loop` (the same steps at batch 1 on one image). */
export function attackFigure(
  what: string,
  attack: PhaseResult['attack'],
  loop: TorchLoop | undefined,
  peer: string | null,
  maxOtherCores: number,
  noPeer?: string,
): string {
  if (!attack) return `${what}: attack not timed (--no-attack)`;
  const adv = `advserve ${secs(attack.msMedian)} s (median of ${attack.msAll.length})${busy(attack.otherCores, maxOtherCores)}`;
  if (!loop) return `${what}: ${adv}; PyTorch: ${noPeer ?? 'not run'}`;
  return (
    `${what}: ${adv}; PyTorch ${peer} ${loop.iters} steps at batch 1 ${secs(loop.ms_median)} s (median of ${loop.ms_all.length}${loop.interleaved ? ', in turn with advserve\'s runs' : ''})` +
    `${busy(loop.other_cores, maxOtherCores)}; ratio PyTorch/advserve ${ratio(attackRatio(attack, loop))} (>= 1.0: advserve faster)`
  );
}

/** The PyTorch row at batch 8, or at the largest batch it ran (named in the text). */
export function batchRow(rows: TorchStep[] | undefined): TorchStep | undefined {
  if (!rows?.length) return undefined;
  return rows.find((r) => r.batch === 8) ?? rows.reduce((a, b) => (b.batch > a.batch ? b : a));
}

/**
 * Each goal is measured against PyTorch's best setup for that figure, not against the setup
 * that was fastest over all step rows (the "peer" of the tables): the two can differ, e.g. an
 * openblas-openmp peer whose 20-step loop took 1.07 s where the plain run's took 0.75 s.
 * With `attack`, its paired loops (timed in turn with its runs) are used when it has any.
 */
export function fastestLoop(runs: TorchRun[], name: string, attack?: PhaseResult['attack']): { setup: string; loop: TorchLoop } | undefined {
  // Loops timed in turn with the attacks saw the host as the attacks did: they are the ones to compare.
  const paired = Object.entries(attack?.paired ?? {}).map(([setup, loop]) => ({ setup, loop }));
  const found = paired.length ? paired : runs.flatMap((r) => (PEER_SETUPS.has(r.setup) && r.loop?.[name] ? [{ setup: r.setup, loop: r.loop[name] }] : []));
  return found.length ? found.reduce((a, b) => (b.loop.ms_median < a.loop.ms_median ? b : a)) : undefined;
}

/** The setup whose batch-8 row (or largest batch, as batchRow) has the most image-steps/s, as fastestLoop. */
export function fastestBatchRow(runs: TorchRun[], name: string): { setup: string; row: TorchStep } | undefined {
  const found = runs.flatMap((r) => {
    const row = PEER_SETUPS.has(r.setup) ? batchRow(r.results[name]) : undefined;
    return row ? [{ setup: r.setup, row }] : [];
  });
  return found.length ? found.reduce((a, b) => (b.row.image_steps_per_s > a.row.image_steps_per_s ? b : a)) : undefined;
}

/**
 * What batching can give at most: the best image-steps/s of the same models' passes on the same
 * split in this run (any batch size), over the sequential attacks' image-steps/s. An attack is
 * little but these passes, so concurrent attacks cannot go much faster than its best pass rate;
 * null without step rows.
 */
export function concurrencyCeiling(c: ConcurrencyResult, passRows: StepResult[] | undefined): { best: StepResult; sequential: number; ratio: number } | null {
  if (!passRows?.length) return null;
  const best = passRows.reduce((a, b) => (b.imageStepsPerS > a.imageStepsPerS ? b : a));
  const sequential = (c.jobs * c.iterations) / (c.sequential.wallMs / 1000);
  return { best, sequential, ratio: best.imageStepsPerS / sequential };
}

/**
 * 2. Concurrent against sequential attacks, concurrent image-steps/s against PyTorch's step
 * throughput, and the ceiling the passes set (passRows: the same models' step rows, same split).
 */
export function concurrencyFigure(what: string, c: ConcurrencyResult | null, pt: TorchStep | undefined, peer: string | null, noPeer?: string, passRows?: StepResult[]): string[] {
  if (!c) return [`${what}: concurrency not run`];
  const mode = (m: ConcurrencyResult['sequential']) => `${secs(m.wallMs)} s (mean batch ${m.meanBatch.toFixed(2)}, ${m.successes}/${c.jobs} succeeded)`;
  const out = [
    `${what}: ${c.jobs} attacks x ${c.iterations} iterations: in sequence ${mode(c.sequential)}, all at once ${mode(c.concurrent)}; ` +
      `throughput ratio ${ratio(c.throughputRatio)}; identical bytes: ${c.identical ? 'yes' : 'no'}`,
  ];
  const vs = pt
    ? `PyTorch ${peer} batch-${pt.batch}${pt.batch === 8 ? '' : ' (no batch-8 row in this run)'} ${pt.image_steps_per_s.toFixed(2)}: ` +
      `ratio ${ratio(concurrentVsTorch(c, pt))}`
    : `PyTorch: ${noPeer ?? 'not run'}`;
  out.push(`     concurrent image-steps/s (${c.jobs} x ${c.iterations} / wall) ${c.concurrentImageStepsPerS.toFixed(2)}; ${vs}`);
  const ceiling = concurrencyCeiling(c, passRows);
  if (ceiling) {
    out.push(
      `     ceiling: these models' best pass rate on this split in this run, ${ceiling.best.imageStepsPerS.toFixed(2)} image-steps/s (batch ${ceiling.best.batch}), ` +
        `is ${ratio(ceiling.ratio)}x the sequential attacks' ${ceiling.sequential.toFixed(2)}: batching gains at most about that`,
    );
  }
  if (!c.identical) {
    const differ = c.sequential.outputSha256.flatMap((h, i) => (h === c.concurrent.outputSha256[i] ? [] : [i]));
    out.push(`     WARNING: jobs ${differ.join(', ')} gave different bytes alone and batched`);
  }
  return out;
}

export interface FlopRow {
  name: string;
  batch: number;
  /** FLOPs of one image-step (forward + input gradient), or NaN when unknown. */
  stepFlops: number;
  imageStepsPerS: number;
}

export interface RatedFlopRow extends FlopRow {
  /** Achieved GFLOP/s (NaN when the FLOPs are unknown). */
  gflops: number;
  /** Percent of the host's peak, or null when the peak or the FLOPs are unknown. */
  pctPeak: number | null;
}

export function rate(rows: FlopRow[], peak: HostPeak): RatedFlopRow[] {
  return rows.map((r) => {
    const gflops = (r.stepFlops * r.imageStepsPerS) / 1e9;
    return { ...r, gflops, pctPeak: peak.gflops && Number.isFinite(gflops) ? (100 * gflops) / peak.gflops : null };
  });
}

/** 4. GFLOP per image-step, GFLOP/s achieved and % of the host's peak, per row. */
export function flopTable(rows: { who: string; rows: FlopRow[] }[], peak: HostPeak): string[] {
  const wWho = Math.max(8, ...rows.map((r) => r.who.length)) + 2;
  const out = [
    `${pad('', wWho)}${pad('model', 26)}${lpad('batch', 5)}  ${lpad('GFLOP/step', 10)}  ${lpad('GFLOP/s', 8)}  ${lpad('% peak', 7)}`,
  ];
  for (const { who, rows: rs } of rows) {
    for (const r of rate(rs, peak)) {
      const known = Number.isFinite(r.stepFlops);
      out.push(
        `${pad(who, wWho)}${pad(r.name, 26)}${lpad(String(r.batch), 5)}  ${lpad(known ? (r.stepFlops / 1e9).toFixed(2) : '-', 10)}  ` +
          `${lpad(known ? r.gflops.toFixed(1) : '-', 8)}  ${lpad(r.pctPeak === null ? '-' : `${r.pctPeak.toFixed(1)}%`, 7)}`,
      );
    }
  }
  return out;
}

/** The practical ceiling beside the peak: PyTorch's 2048x2048 sgemm on the same threads. */
export function sgemmLine(run: TorchRun | undefined, peak: HostPeak): string | null {
  if (run?.sgemm_gflops === undefined) return null;
  const pct = peak.gflops ? ` (${((100 * run.sgemm_gflops) / peak.gflops).toFixed(0)}% of the peak)` : '';
  return `ceiling check: PyTorch ${run.setup} 2048x2048 sgemm on ${run.threads} threads: ${run.sgemm_gflops.toFixed(1)} GFLOP/s${pct}`;
}

/** advserve's step rows with FLOPs from the compiled graphs (an ensemble's are its members' sum). */
export function advserveFlopRows(steps: PhaseResult['steps'], flops: ModelFlops[], members: Record<string, string[]>): FlopRow[] {
  const per = new Map(flops.map((f) => [f.id, f.stepFlops]));
  return Object.entries(steps).flatMap(([name, rows]) => {
    const ids = members[name] ?? [name];
    const stepFlops = ids.reduce((s, id) => s + (per.get(id) ?? NaN), 0);
    return rows.map((r) => ({ name, batch: r.batch, stepFlops, imageStepsPerS: r.imageStepsPerS }));
  });
}

/** PyTorch's step rows with FLOPs from its own multiply-add count (4 x forward, the same convention). */
export function torchFlopRows(run: TorchRun | undefined, members: Record<string, string[]>): FlopRow[] {
  if (!run) return [];
  return Object.entries(run.results).flatMap(([name, rows]) => {
    const ids = members[name] ?? [name];
    const stepFlops = ids.reduce((s, id) => s + 4 * (run.macs?.[id] ?? NaN), 0);
    return rows.map((r) => ({ name, batch: r.batch, stepFlops, imageStepsPerS: r.image_steps_per_s }));
  });
}

/** 5. Peak RSS of the service's phase at its largest batch (start-up and step rows, before the attacks). */
export function memoryFigure(p: PhaseResult, batches: number[], what: string): string {
  if (!batches.length) return `${what}: no step rows`;
  const top = Math.max(...batches);
  const who = p.runner === 'pool' ? (p.slots === 1 ? 'one worker' : `${p.slots} workers`) : 'in-process';
  const note = top === 8 ? '' : ' (no batch-8 row in this run)';
  return (
    `${what}: ${who}, batch ${top}: ${p.stepsRssPeakMiB.toFixed(0)} MiB${p.slots > 1 && p.runner === 'pool' ? ` for all ${p.slots} (goal < 1.5 GB per worker: compare a --workers 1 run)` : ' (goal < 1.5 GB)'}${note}; ` +
    `whole process incl. main thread, sampled; over the whole phase with the attacks${p.concurrency ? ' and concurrency' : ''}: ${p.rssPeakMiB.toFixed(0)} MiB`
  );
}

/** The goal figures as numbers, for --json / --json-out (the text lines above print the same). */
export interface Goals {
  /** pytorchSetup (and the concurrency's): the PyTorch setup the figure was measured against. */
  attack: { advserveMs: number | null; pytorchMs: number | null; pytorchSetup: string | null; ratio: number | null };
  concurrency: {
    jobs: number;
    iterations: number;
    sequentialMs: number;
    concurrentMs: number;
    throughputRatio: number;
    identical: boolean;
    concurrentImageStepsPerS: number;
    pytorchBatch: number | null;
    pytorchImageStepsPerS: number | null;
    pytorchSetup: string | null;
    ratio: number | null;
  } | null;
  gflops: { advserve: RatedFlopRow[]; pytorch: RatedFlopRow[] };
  memory: { runner: string; slots: number; batch: number; stepsRssPeakMiB: number; phaseRssPeakMiB: number } | null;
}

/** o.loop and o.batch: PyTorch's best for each figure (fastestLoop, fastestBatchRow), with the setup that gave it. */
export function goals(
  o: { phase: PhaseResult; loop?: { setup: string; loop: TorchLoop }; batch?: { setup: string; row: TorchStep }; advFlops: FlopRow[]; torchFlops: FlopRow[]; batches: number[] },
  peak: HostPeak,
): Goals {
  const { phase: p } = o;
  const c = p.concurrency;
  const pt = o.batch?.row;
  return {
    attack: { advserveMs: p.attack?.msMedian ?? null, pytorchMs: o.loop?.loop.ms_median ?? null, pytorchSetup: o.loop?.setup ?? null, ratio: attackRatio(p.attack, o.loop?.loop) },
    concurrency: c && {
      jobs: c.jobs,
      iterations: c.iterations,
      sequentialMs: c.sequential.wallMs,
      concurrentMs: c.concurrent.wallMs,
      throughputRatio: c.throughputRatio,
      identical: c.identical,
      concurrentImageStepsPerS: c.concurrentImageStepsPerS,
      pytorchBatch: pt?.batch ?? null,
      pytorchImageStepsPerS: pt?.image_steps_per_s ?? null,
      pytorchSetup: o.batch?.setup ?? null,
      ratio: concurrentVsTorch(c, pt),
    },
    gflops: { advserve: rate(o.advFlops, peak), pytorch: rate(o.torchFlops, peak) },
    memory: o.batches.length
      ? { runner: p.runner, slots: p.slots, batch: Math.max(...o.batches), stepsRssPeakMiB: p.stepsRssPeakMiB, phaseRssPeakMiB: p.rssPeakMiB }
      : null,
  };
}
