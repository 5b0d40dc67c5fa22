/**
 * Puts a catalog model into the store as a normal model folder, `<store>/<id>/` (advserve.json
 * + files), all or nothing: the files go into `<store>/.incoming-<random>/` (names starting with
 * '.' are not model folders to the loader), each is checked against the catalog's size and
 * sha256, advserve.json is written and read back as the service would, and only then is the
 * folder renamed to `<id>`. Any failure removes the temporary folder.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFolderSpec } from '../spec-file';
import { advserveJsonFor } from './advserve-json';
import type { CatalogEntry } from './catalog';
import { downloadFile, PullError } from './download';
import type { PullProgress } from './progress';

export interface PullOptions {
  store: string;
  /** Base URL serving `<mirror>/<id>/<file>`, used instead of the catalog's URLs. */
  mirror?: string;
  /** Replace an existing `<store>/<id>`. */
  force?: boolean;
  idleTimeoutMs?: number;
  progress?: PullProgress;
  signal?: AbortSignal;
}

/** Each file's URL: the mirror's, else the catalog's (undefined where the catalog has none). */
export function fileUrls(entry: CatalogEntry, mirror?: string): (string | undefined)[] {
  if (mirror === undefined) return entry.files.map((f) => f.url);
  const base = mirror.replace(/\/+$/, '');
  return entry.files.map((f) => `${base}/${encodeURIComponent(entry.id)}/${encodeURIComponent(f.name)}`);
}

/** Downloads, verifies and installs `entry`; returns its folder. Throws a PullError (or the fs error: store not writable) on any failure, leaving the store as it was. */
export async function pullModel(entry: CatalogEntry, opts: PullOptions): Promise<string> {
  const urls = fileUrls(entry, opts.mirror);
  const missing = entry.files.filter((_, i) => urls[i] === undefined).map((f) => f.name);
  if (missing.length) {
    throw new PullError(
      `${missing.join(', ')} ${missing.length === 1 ? 'has' : 'have'} no public download URL (made from an upstream release, not published anywhere as such); give --mirror URL of a site serving <mirror>/${entry.id}/<file>`,
      2,
    );
  }
  const target = join(opts.store, entry.id);
  if (existsSync(target) && !opts.force) throw new PullError(`${target} already exists; give --force to replace it`, 2);
  await mkdir(opts.store, { recursive: true });
  const incoming = await mkdtemp(join(opts.store, '.incoming-'));
  try {
    let done = 0;
    for (const [i, f] of entry.files.entries()) {
      if (opts.signal?.aborted) throw new PullError('interrupted');
      await downloadFile(urls[i]!, join(incoming, f.name), f.name, {
        bytes: f.bytes,
        sha256: f.sha256,
        idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
        signal: opts.signal,
        onBytes: (n) => opts.progress?.bytes(f.name, i, done, n),
      });
      done += f.bytes;
      opts.progress?.verified(f.name, i, f.bytes, done);
    }
    await writeFile(join(incoming, 'advserve.json'), `${JSON.stringify(advserveJsonFor({ id: entry.id, ...entry.network }), null, 1)}\n`);
    try {
      await readFolderSpec(incoming);
    } catch (err) {
      throw new PullError(`the pulled folder does not load: ${(err as Error).message}`);
    }
    // mkdtemp makes the folder owner-only; a model folder is as readable as any other (the service may run as another user).
    await chmod(incoming, 0o755);
    if (existsSync(target)) {
      if (!opts.force) throw new PullError(`${target} appeared during the pull; give --force to replace it`, 2);
      // Swap with two renames so the store never lacks a complete folder for longer than that.
      const old = await mkdtemp(join(opts.store, '.replaced-'));
      try {
        await rename(target, join(old, entry.id));
        try {
          await rename(incoming, target);
        } catch (err) {
          await rename(join(old, entry.id), target);
          throw err;
        }
      } finally {
        await rm(old, { recursive: true, force: true });
      }
    } else {
      await rename(incoming, target);
    }
    return target;
  } catch (err) {
    await rm(incoming, { recursive: true, force: true });
    throw err;
  }
}
