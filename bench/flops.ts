/**
 * FLOP counts of the compiled networks and the host's peak, for the bench's "GFLOP/s against
 * peak" table.
 *
 * Counting convention (docs/PERFORMANCE.md): one image-step = forward + input gradient. From the
 * compiled program (buildNet(spec).net.graph(), shapes from graph.shapes() on one probe image at
 * the model's input size), each conv, depthwise conv and dense step costs its multiply-adds x 2
 * FLOPs forward, and its input gradient (a transposed conv / product of the same size) the same
 * multiply-adds again: an image-step is 4 x the forward multiply-adds. Everything else (resize
 * of the user's image, activations, pooling, batch norm, adds, the attack arithmetic) counts as
 * nothing: it is a few percent of the work at most.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { buildNet } from '../src/models/registry';
import { forwardMacs } from '../src/models/net/flops';
import type { ModelSpec } from '../src/models/types';

export interface ModelFlops {
  id: string;
  /** Multiply-adds of one image's forward pass (conv, depthwise, dense). */
  forwardMacs: number;
  /** FLOPs of one image-step under the convention above: 4 x forwardMacs. */
  stepFlops: number;
  /** Why the model could not be counted (no compiled graph), else absent. */
  skipped?: string;
}

/** A model's FLOPs per image-step, from its compiled program (built here, freed after). */
export async function countFlops(spec: ModelSpec): Promise<ModelFlops> {
  const quiet = { info: () => undefined, warn: () => undefined };
  const built = await buildNet(spec, quiet);
  try {
    const graph = built.net.graph?.();
    if (!graph) return { id: spec.id, forwardMacs: NaN, stepFlops: NaN, skipped: 'no compiled graph (plain tfjs fallback)' };
    const macs = forwardMacs(graph, spec.inputSize);
    return { id: spec.id, forwardMacs: macs, stepFlops: 4 * macs };
  } finally {
    built.net.dispose();
  }
}

export interface HostPeak {
  cpu: string;
  vendor: string;
  family: number | null;
  cores: number;
  /** "cpu MHz" of /proc/cpuinfo (first core), or null when absent. */
  mhz: number | null;
  isa: string;
  flopPerCycle: number;
  /** In words: which units the FLOP/cycle assumes. */
  assumption: string;
  /** cores x GHz x FLOP/cycle, or the --peak-gflops override; null when the clock is unknown. */
  gflops: number | null;
  overridden: boolean;
}

/**
 * fp32 peak of the host: cores (os.availableParallelism()) x clock ("cpu MHz") x FLOP per cycle,
 * where FLOP/cycle = FMA units x fp32 lanes x 2. AVX2+FMA: 2 x 8 x 2 = 32. AVX-512: AMD Zen 4
 * (family 25) runs 512-bit ops on 256-bit datapaths, so 32 too; Zen 5 (family 26, the server
 * parts) and Intel with two 512-bit FMA units: 2 x 16 x 2 = 64 (an Intel part with one 512-bit
 * unit has 32: override with --peak-gflops).
 */
export function hostPeak(override?: number, info = readCpuinfo(), cores = os.availableParallelism()): HostPeak {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  const flags = new Set((field('flags') ?? '').split(/\s+/));
  const vendor = field('vendor_id') ?? 'unknown';
  const family = field('cpu family') === undefined ? null : Number(field('cpu family'));
  const mhzRaw = field('cpu MHz');
  const mhz = mhzRaw === undefined || !(Number(mhzRaw) > 0) ? null : Number(mhzRaw);
  let isa: string;
  let flopPerCycle: number;
  let assumption: string;
  if (flags.has('avx512f')) {
    isa = 'avx512f';
    if (vendor === 'AuthenticAMD' && family !== null && family < 26) {
      flopPerCycle = 32;
      assumption = `AMD family ${family} (Zen 4 or older): AVX-512 on 256-bit datapaths, 2 FMA x 8 fp32 lanes x 2`;
    } else if (vendor === 'AuthenticAMD') {
      flopPerCycle = 64;
      assumption = `AMD family ${family ?? '?'} (Zen 5): 512-bit FMA datapaths, 2 FMA x 16 fp32 lanes x 2`;
    } else {
      flopPerCycle = 64;
      assumption = `${vendor}: two 512-bit FMA units assumed, 2 FMA x 16 fp32 lanes x 2 (one unit: half)`;
    }
  } else if (flags.has('avx2') && flags.has('fma')) {
    isa = 'avx2+fma';
    flopPerCycle = 32;
    assumption = '2 FMA units x 8 fp32 lanes x 2';
  } else {
    isa = flags.size > 1 ? 'no avx2/fma' : 'unknown';
    flopPerCycle = 8;
    assumption = 'no FMA: 2 units x 4 fp32 lanes (SSE), 1 op each';
  }
  const computed = mhz === null ? null : (cores * mhz * flopPerCycle) / 1000;
  return {
    cpu: field('model name') ?? os.cpus()[0]?.model ?? 'unknown',
    vendor,
    family,
    cores,
    mhz,
    isa,
    flopPerCycle,
    assumption,
    gflops: override ?? computed,
    overridden: override !== undefined,
  };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return ''; // not Linux
  }
}

/** One line describing the peak and how it was reached. */
export function describePeak(p: HostPeak): string {
  const clock = p.mhz === null ? 'clock unknown (no "cpu MHz")' : `${(p.mhz / 1000).toFixed(2)} GHz ("cpu MHz")`;
  const computed = p.mhz === null ? 'unknown' : `${((p.cores * p.mhz * p.flopPerCycle) / 1000).toFixed(0)} GFLOP/s`;
  const formula = `${p.cores} cores x ${clock} x ${p.flopPerCycle} FLOP/cycle (${p.isa}; ${p.assumption}) = ${computed}`;
  return p.overridden ? `peak ${p.gflops} GFLOP/s from --peak-gflops (host figure: ${formula})` : `peak fp32: ${formula}`;
}
