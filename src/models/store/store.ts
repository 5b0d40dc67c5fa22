/**
 * The model store at run time: installs an uploaded model folder as `<store>/<id>/` and serves
 * it, replaces or removes a store model. All or nothing: the upload sits in a temporary
 * `<store>/.incoming-<random>/` while it is checked (advserve.json), compiled and warmed up (in
 * every worker), and is renamed into place only then; any failure removes it and leaves the
 * serving models and the store as they were. One operation per id at a time: a second upload
 * or removal of the same id meanwhile is a 409 at once (no half-written folder).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { invalidModel, modelExists, modelProtected, unknownModel } from '../../errors';
import { readFolderSpec } from '../spec-file';
import type { ModelSpec } from '../types';
import { isStoreModel, STORE_ID, storeFolder, type ModelHost } from './host';

export interface StoreOpsLog {
  error(obj: object, msg: string): void;
}

export class ModelStore {
  /** Ids with an upload or removal in progress. */
  private readonly busy = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly engine: ModelHost,
    private readonly log: StoreOpsLog,
  ) {}

  /** A new temporary folder inside the store for an upload (the store is created if needed). */
  async openIncoming(): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    return mkdtemp(join(resolve(this.dir), '.incoming-'));
  }

  /** Whether `id` is served from this store (and so may be replaced or removed). */
  owns(spec: ModelSpec): boolean {
    return isStoreModel(this.dir, spec);
  }

  /**
   * Checks, loads and serves the model folder `incoming` (holding advserve.json and the uploaded
   * files), then renames it to `<store>/<id>`. Returns the served spec. The caller removes
   * `incoming` afterwards whatever happened (after success it no longer exists).
   */
  async install(incoming: string, replace: boolean): Promise<ModelSpec> {
    const id = await declaredId(incoming);
    const spec = await readFolderSpec(incoming).catch((err: Error) => {
      throw invalidModel(scrub(err.message, incoming));
    });
    return this.exclusive(id, async () => {
      const target = storeFolder(this.dir, id);
      const current = this.engine.modelSpec(id);
      if (current && !this.owns(current)) throw modelProtected(id);
      if ((current || existsSync(target)) && !replace) {
        throw modelExists(`Model "${id}" exists already${current ? '' : ' in the store (a folder that did not load)'}; upload with ?replace=true to replace it.`);
      }
      const staged = await this.engine.stageModel(spec).catch((err: Error) => {
        throw invalidModel(scrub(err.message, incoming));
      });
      let retiredDir: string | undefined;
      try {
        // mkdtemp makes the folder owner-only; a model folder is as readable as any other.
        await chmod(incoming, 0o755);
        if (existsSync(target)) {
          retiredDir = await mkdtemp(join(this.dir, '.retired-'));
          await rename(target, join(retiredDir, id));
        }
        try {
          await rename(incoming, target);
        } catch (err) {
          if (retiredDir) await rename(join(retiredDir, id), target);
          throw err;
        }
      } catch (err) {
        await this.engine.discardStaged(staged);
        if (retiredDir) await rm(retiredDir, { recursive: true, force: true });
        throw err;
      }
      const served: ModelSpec = { ...spec, source: { kind: 'folder', path: target } };
      const { retired } = this.engine.serveModel(staged, served);
      // The replaced model's files go once its running jobs are done with it.
      if (retiredDir) {
        const old = retiredDir;
        void retired.finally(() => rm(old, { recursive: true, force: true })).catch((err) => this.log.error({ err, folder: old }, 'could not remove a replaced model folder'));
      }
      return served;
    });
  }

  /** Stops serving the store model `id` once its running jobs finish, then removes its folder. */
  async remove(id: string): Promise<void> {
    await this.exclusive(id, async () => {
      const spec = this.engine.modelSpec(id);
      if (!spec) throw unknownModel(id);
      if (!this.owns(spec)) throw modelProtected(id);
      await this.engine.removeModel(id);
      const gone = await mkdtemp(join(this.dir, '.removed-'));
      await rename(storeFolder(this.dir, id), join(gone, id));
      await rm(gone, { recursive: true, force: true });
    });
  }

  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) throw modelExists(`Another upload or removal of model "${id}" is in progress; retry when it is done.`);
    this.busy.add(id);
    try {
      return await work();
    } finally {
      this.busy.delete(id);
    }
  }
}

/** The id an uploaded advserve.json declares: required (a folder name would be the temporary one's). */
async function declaredId(incoming: string): Promise<string> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(incoming, 'advserve.json'), 'utf8'));
  } catch (err) {
    throw invalidModel(`The spec is not valid JSON (${(err as Error).message}).`);
  }
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidModel('The spec must be a JSON object (the advserve.json of the model folder).');
  if (typeof id !== 'string' || !STORE_ID.test(id)) {
    throw invalidModel('The spec must give the model\'s "id": letters, digits, "_", "." or "-", not starting with "." (at most 128 characters).');
  }
  return id;
}

/** Loader messages name files by their temporary path; the client knows them by their own names. */
function scrub(message: string, incoming: string): string {
  const dir = resolve(incoming);
  return message.split(`${dir}/`).join('').split(dir).join('the upload');
}
