/**
 * Repetition policy shared by the bench's timed sections: warm-up runs, then at least
 * minReps and at most maxReps timed runs, stopping once budgetMs of timed work is spent.
 *
 * The bench machine is small (2 cores) and often shared with tests and builds, so each timed
 * run also measures how much CPU *other* processes took meanwhile (/proc/stat minus this
 * process). A run during which others used more than maxOtherCores is discarded and redone,
 * until discards have cost discardBudgetMs; after that contended runs are kept and counted,
 * and the report marks the row.
 */
import { readFileSync } from 'node:fs';

export interface RepeatPolicy {
  warmup: number;
  minReps: number;
  maxReps: number;
  budgetMs: number;
  /** Others' average CPU use (in cores) above which a timed run counts as contended. */
  maxOtherCores: number;
  discardBudgetMs: number;
}

export interface Timed {
  /** Durations of the kept runs, ms. */
  ms: number[];
  /** Runs thrown away because other processes were using the CPU. */
  discarded: number;
  /** Kept runs that were contended anyway (discard budget spent). */
  contended: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const HZ = 100; // USER_HZ on Linux

/** Busy CPU seconds of the whole machine (all cores), or null off Linux. */
function machineBusyS(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    return cpu.slice(0, 8).reduce((s, v, i) => (i === 3 || i === 4 ? s : s + v), 0) / HZ;
  } catch {
    return null;
  }
}

/** CPU seconds of this process (all its threads). */
function selfS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Starts a probe; calling the result gives others' average CPU use (cores) since then, or null.
 * "Self" is the whole process, worker threads included.
 */
export function otherCpuProbe(): () => number | null {
  const m0 = machineBusyS();
  const s0 = selfS();
  const t0 = performance.now();
  return () => {
    const m1 = machineBusyS();
    if (m0 === null || m1 === null) return null;
    const wall = (performance.now() - t0) / 1000;
    if (wall <= 0) return 0;
    // /proc/stat counts in 10 ms ticks per core: allow two ticks of rounding per core.
    const other = m1 - m0 - (selfS() - s0) - 0.02;
    return Math.max(0, other) / wall;
  };
}

/** Runs fn per the policy; returns the kept durations in ms and the contention counts. */
export async function timeRepeated(fn: () => void | Promise<void>, p: RepeatPolicy): Promise<Timed> {
  for (let i = 0; i < p.warmup; i++) await fn();
  const ms: number[] = [];
  let spent = 0;
  let discarded = 0;
  let discardedMs = 0;
  let contended = 0;
  while (ms.length < p.maxReps && (ms.length < p.minReps || spent < p.budgetMs)) {
    const probe = otherCpuProbe();
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    const others = probe();
    if (others !== null && others > p.maxOtherCores) {
      if (discardedMs < p.discardBudgetMs) {
        discarded++;
        discardedMs += dt;
        continue;
      }
      contended++;
    }
    ms.push(dt);
    spent += dt;
  }
  return { ms, discarded, contended };
}
