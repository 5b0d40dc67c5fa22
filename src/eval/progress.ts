/** Progress on stderr: a one-line bar on a TTY, plain lines otherwise (logs, CI). */
import type { EvalProgress } from './run';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const clock = (s: number) => {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
};

/**
 * What the defenses made of this attack: "clean Neutral, target Drawing | m1: Drawing (hit), m2: Neutral".
 * (hit) = the target (targeted); (miss) = not the clean label (untargeted). A killed run's log still holds its results.
 */
function outcome(p: EvalProgress): string {
  const mark = (label: string) => (p.target !== undefined ? (label === p.target ? ' (hit)' : '') : label !== p.clean ? ' (miss)' : '');
  const head = p.target !== undefined ? `clean ${p.clean}, target ${p.target}` : `clean ${p.clean}`;
  return `${head} | ${p.predictions.map((d) => `${d.defense}: ${d.label}${mark(d.label)}`).join(', ')}`;
}

export function progressReporter(stream: ProgressStream, now: () => number = () => performance.now()) {
  const started = now();
  let last = 0;
  return {
    update(p: EvalProgress): void {
      const elapsed = (now() - started) / 1000;
      const eta = p.done ? (elapsed / p.done) * (p.total - p.done) : 0;
      if (!stream.isTTY) {
        stream.write(`eval ${p.done}/${p.total}: ${p.image} ${p.method} ${p.seconds.toFixed(2)} s (elapsed ${clock(elapsed)}, eta ${clock(eta)}) | ${outcome(p)}\n`);
        return;
      }
      const t = now();
      if (p.done < p.total && t - last < 100) return; // at most 10 redraws a second
      last = t;
      const width = 24;
      const filled = Math.round((width * p.done) / p.total);
      let line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total} ${Math.floor((100 * p.done) / p.total)}%  eta ${clock(eta)}  ${p.method}  ${p.image}`;
      const cols = stream.columns ?? 100;
      if (line.length > cols - 1) line = line.slice(0, cols - 1);
      stream.write(`\r${line}\x1b[K${p.done === p.total ? '\n' : ''}`);
    },
  };
}
