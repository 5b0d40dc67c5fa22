/** Pull progress on stderr: a bar with bytes/total on a TTY, one line per verified file otherwise (logs, CI). */
import type { ProgressStream } from '../../eval/progress';

const size = (n: number) => (n < 1e6 ? `${Math.round(n / 1e3)} kB` : `${(n / 1e6).toFixed(1)} MB`);

export interface PullProgress {
  /** `received` bytes of the current file (number `index` of `files`), `before` bytes of the files already done. */
  bytes(file: string, index: number, before: number, received: number): void;
  /** The file is complete and its sha256 is the catalog's. */
  verified(file: string, index: number, bytes: number, doneBytes: number): void;
}

export function pullProgress(stream: ProgressStream, id: string, files: number, total: number, now: () => number = () => performance.now()): PullProgress {
  let last = -Infinity;
  const bar = (file: string, index: number, done: number, force: boolean) => {
    const t = now();
    if (!force && t - last < 100) return; // at most 10 redraws a second
    last = t;
    const width = 24;
    const filled = total ? Math.round((width * done) / total) : width;
    let line = `${id} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${size(done)}/${size(total)}  ${index + 1}/${files} ${file}`;
    const cols = stream.columns ?? 100;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    stream.write(`\r${line}\x1b[K${done === total && index + 1 === files ? '\n' : ''}`);
  };
  return {
    bytes(file, index, before, received) {
      if (stream.isTTY) bar(file, index, before + received, false);
    },
    verified(file, index, bytes, doneBytes) {
      if (stream.isTTY) bar(file, index, doneBytes, true);
      else stream.write(`${id}: ${index + 1}/${files} ${file} ${bytes} bytes, sha256 ok (${size(doneBytes)} of ${size(total)})\n`);
    },
  };
}
