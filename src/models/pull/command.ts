/**
 * `advserve models list|pull`: the catalog of public ImageNet classifiers (catalog.ts) and their
 * download into the model store, `--store DIR` or ADVSERVE_MODEL_STORE, as `<store>/<id>/`.
 * Exit codes: 0 done, 1 the download or a checksum failed (the store is left as it was),
 * 2 usage (unknown id, no store, an existing folder without --force, no URL for a file).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ProgressStream } from '../../eval/progress';
import { CATALOG, catalogEntry, totalBytes } from './catalog';
import { PullError } from './download';
import { pullProgress } from './progress';
import { pullModel } from './pull';

export const MODELS_USAGE = `usage:
  advserve models list [--store DIR]           the catalog of public ImageNet models, marking those already in the store
  advserve models pull <id> [--store DIR] [--mirror URL] [--force] [--timeout SECONDS]
                                               download <id> into <store>/<id>/, every file's size and sha256 checked
The store defaults to ADVSERVE_MODEL_STORE. --mirror URL: fetch every file as URL/<id>/<file> instead (a copy of
the files on a site you run; files made from an upstream release have no public URL and need one). --force replaces
an existing <store>/<id>. --timeout: seconds without data before a download fails (default 30).`;

class ModelsUsageError extends Error {}

function storeDir(given: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const dir = given || env.ADVSERVE_MODEL_STORE;
  return dir ? resolve(dir) : undefined;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function list(store: string | undefined, out: NodeJS.WritableStream): void {
  const rows = CATALOG.map((e) => {
    const pub = e.files.filter((f) => f.url).length;
    const here = store !== undefined && existsSync(join(store, e.id, 'advserve.json'));
    return [e.id, e.format, mb(totalBytes(e)), `${pub}/${e.files.length}`, ...(store === undefined ? [] : [here ? 'yes' : '-']), e.description];
  });
  const head = ['id', 'format', 'size', 'public', ...(store === undefined ? [] : ['in store']), 'description'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  for (const r of [head, ...rows]) out.write(`${r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]))).join('  ').trimEnd()}\n`);
  out.write(
    `public: files with a public download URL (the rest only come from --mirror).${store === undefined ? ' Give --store DIR or set ADVSERVE_MODEL_STORE to see what is in the store.' : ` Store: ${store}`}\n`,
  );
}

function mirrorUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ModelsUsageError(`--mirror: "${value}" is not a URL (e.g. http://mirror.local/advserve-models)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ModelsUsageError(`--mirror: "${value}" must be an http or https URL`);
  return value;
}

/** Runs a `models` subcommand; returns the exit code. */
export async function modelsCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: NodeJS.WritableStream = process.stdout,
  err: ProgressStream = process.stderr,
): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        store: { type: 'string' },
        mirror: { type: 'string' },
        force: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '30' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help || sub === 'help' || sub === '--help' || sub === '-h') {
      out.write(`${MODELS_USAGE}\n`);
      return 0;
    }
    switch (sub) {
      case 'list':
        if (positionals.length) throw new ModelsUsageError('models list takes no arguments');
        list(storeDir(values.store, env), out);
        return 0;
      case 'pull': {
        if (positionals.length !== 1) throw new ModelsUsageError('models pull needs one model id (advserve models list)');
        const id = positionals[0];
        const entry = catalogEntry(id);
        if (!entry) {
          err.write(`advserve: models pull: unknown model "${id}"; the catalog has: ${CATALOG.map((e) => e.id).join(', ')}\n`);
          return 2;
        }
        const store = storeDir(values.store, env);
        if (!store) throw new ModelsUsageError('no model store: give --store DIR or set ADVSERVE_MODEL_STORE');
        const mirror = values.mirror === undefined ? undefined : mirrorUrl(values.mirror);
        const timeout = Number(values.timeout);
        if (!(timeout > 0)) throw new ModelsUsageError(`--timeout must be a positive number of seconds, not "${values.timeout}"`);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const dir = await pullModel(entry, {
            store,
            mirror,
            force: values.force,
            idleTimeoutMs: timeout * 1000,
            progress: pullProgress(err, id, entry.files.length, totalBytes(entry)),
            signal: stop.signal,
          });
          out.write(
            `pulled ${id} into ${dir} (${entry.files.length} files, ${mb(totalBytes(entry))}, every sha256 as in the catalog)\n` +
              `serve it: ADVSERVE_MODEL_STORE=${store} npm start (every model in the store), or ADVSERVE_MODEL_DIRS=${dir}\n`,
          );
          return 0;
        } catch (e) {
          if (!(e instanceof PullError)) throw e;
          err.write(`${err.isTTY ? '\n' : ''}advserve: models pull ${id}: ${e.message}\n`);
          return e.exitCode;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }
      default:
        throw new ModelsUsageError(sub === undefined ? 'models needs a subcommand: list or pull' : `unknown models subcommand "${sub}"`);
    }
  } catch (e) {
    if (e instanceof ModelsUsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err.write(`advserve: ${(e as Error).message}\n\n${MODELS_USAGE}\n`);
      return 2;
    }
    if ((e as NodeJS.ErrnoException).code) {
      // The store cannot be created or written (EACCES, ENOSPC, ...).
      err.write(`advserve: models ${sub}: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}
