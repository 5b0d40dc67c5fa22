/**
 * One catalog file over HTTP(S) into a new file on disk, streamed through SHA-256 and a byte
 * count: a response longer than the catalog's size is cut off as soon as it passes it, and the
 * file only counts as downloaded when its size and sha256 are exactly the catalog's.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** A failed or refused pull, with a message naming the file; `exitCode` 1 (download or verification failed) or 2 (refused: usage). */
export class PullError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

export interface DownloadOptions {
  /** The catalog's size and sha256 (hex) of the file. */
  bytes: number;
  sha256: string;
  /** Fail when the server sends nothing (headers or body bytes) for this long. */
  idleTimeoutMs: number;
  /** Bytes received so far, after each chunk. */
  onBytes?: (received: number) => void;
  /** Aborts the download (e.g. on SIGINT). */
  signal?: AbortSignal;
}

function reason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause ? ` (${e.cause.code ?? e.cause.message})` : '';
  return `${e.message}${cause}`;
}

/** Downloads `url` into `dest` (which must not exist); throws a PullError naming `name` on any failure. */
export async function downloadFile(url: string, dest: string, name: string, opts: DownloadOptions): Promise<void> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(new PullError(`${name}: interrupted`));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new PullError(`${name}: nothing received from ${url} for ${opts.idleTimeoutMs / 1000} s`)), opts.idleTimeoutMs);
  };
  const failure = (err: unknown): PullError => {
    if (controller.signal.aborted && controller.signal.reason instanceof PullError) return controller.signal.reason;
    if (err instanceof PullError) return err;
    return new PullError(`${name}: ${url}: ${reason(err)}`);
  };
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    } catch (err) {
      throw failure(err);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new PullError(`${name}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} from ${url}`);
    }
    // With a content coding (gzip), Content-Length counts the encoded bytes: only the decoded count can be checked.
    const length = res.headers.get('content-length');
    if (length !== null && !res.headers.get('content-encoding') && Number(length) !== opts.bytes) {
      await res.body?.cancel().catch(() => {});
      throw new PullError(`${name}: ${url} is ${length} bytes, the catalog says ${opts.bytes}`);
    }
    const hash = createHash('sha256');
    let received = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > opts.bytes) return done(new PullError(`${name}: ${url} sends more than the catalog's ${opts.bytes} bytes`));
        hash.update(chunk);
        arm();
        opts.onBytes?.(received);
        done(null, chunk);
      },
    });
    const body = res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
    try {
      await pipeline(body, meter, createWriteStream(dest, { flags: 'wx' }));
    } catch (err) {
      throw failure(err);
    }
    if (received !== opts.bytes) throw new PullError(`${name}: ${url} ended after ${received} of the catalog's ${opts.bytes} bytes`);
    const got = hash.digest('hex');
    if (got !== opts.sha256) throw new PullError(`${name}: sha256 mismatch: the catalog says ${opts.sha256}, ${url} gave ${got}`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
