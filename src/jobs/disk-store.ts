/**
 * The embedded mode's job store: one folder per job under ADVSERVE_JOB_DIR, read and written by
 * this process only.
 *
 *   <dir>/<id>/job.json         the JobRecord
 *   <dir>/<id>/state.json       startedAt, finishedAt, cancelledAt
 *   <dir>/<id>/input/<n>        the uploaded bytes of image n
 *   <dir>/<id>/results.jsonl    one ItemResult per line, appended as items finish
 *   <dir>/<id>/adv/<n>.<m>.png  the adversarial image of image n, method m
 *
 * A job is removed ADVSERVE_JOB_TTL seconds after it finished or was cancelled (sweep()).
 */
import { appendFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StatName, JobStore } from './store';
import { itemKey, type ItemResult, type JobRecord, type JobState } from './types';

const ID = /^[A-Za-z0-9-]+$/;

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

let tmpCount = 0;

/** Written to a temporary name of its own and renamed, so a crash never leaves half a file. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${++tmpCount}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}

export class DiskJobStore implements JobStore {
  private readonly counters: Record<StatName, number> = { done: 0, failed: 0, retried: 0 };
  /** Item keys with a result, per job (results.jsonl read once; the promise is kept so concurrent first calls share one read). */
  private readonly finished = new Map<string, Promise<Set<string>>>();

  constructor(readonly dir: string, private readonly ttlMs: number) {}

  private path(id: string, ...rest: string[]): string {
    if (!ID.test(id)) throw new Error(`bad job id "${id}"`);
    return join(this.dir, id, ...rest);
  }

  async create(job: JobRecord, inputs: Buffer[]): Promise<void> {
    await mkdir(this.path(job.id, 'input'), { recursive: true });
    await mkdir(this.path(job.id, 'adv'), { recursive: true });
    for (const [n, data] of inputs.entries()) await writeFile(this.path(job.id, 'input', String(n)), data);
    await writeJson(this.path(job.id, 'state.json'), {});
    // The record last: a folder without job.json is an interrupted submission, skipped and swept.
    await writeJson(this.path(job.id, 'job.json'), job);
  }

  record(id: string): Promise<JobRecord | undefined> {
    return ID.test(id) ? readJson<JobRecord>(this.path(id, 'job.json')) : Promise.resolve(undefined);
  }

  async state(id: string): Promise<JobState> {
    return (await readJson<JobState>(this.path(id, 'state.json'))) ?? {};
  }

  /** The last state update of each job: updates run one after another (read, change, write). */
  private readonly stateWrites = new Map<string, Promise<void>>();

  private setState(id: string, change: (s: JobState) => JobState | undefined): Promise<void> {
    const run = async () => {
      const next = change(await this.state(id));
      if (next) await writeJson(this.path(id, 'state.json'), next);
    };
    const done = (this.stateWrites.get(id) ?? Promise.resolve()).then(run, run);
    const settled = done.catch(() => undefined);
    this.stateWrites.set(id, settled);
    void settled.then(() => {
      if (this.stateWrites.get(id) === settled) this.stateWrites.delete(id);
    });
    return done;
  }

  async input(id: string, image: number): Promise<Buffer | undefined> {
    return readFile(this.path(id, 'input', String(image))).catch(() => undefined);
  }

  started(id: string): Promise<void> {
    return this.setState(id, (s) => (s.startedAt ? undefined : { ...s, startedAt: new Date().toISOString() }));
  }

  private finishedSet(id: string): Promise<Set<string>> {
    let set = this.finished.get(id);
    if (!set) {
      set = this.results(id).then((results) => new Set(results.map((r) => itemKey(r.image, r.method))));
      this.finished.set(id, set);
      set.catch(() => this.finished.delete(id));
    }
    return set;
  }

  async putResult(id: string, result: ItemResult, png: Buffer | undefined, total: number): Promise<void> {
    const set = await this.finishedSet(id);
    const key = itemKey(result.image, result.method);
    if (set.has(key)) return;
    set.add(key); // at once: a second result for the same item (a re-run) is dropped
    if (png) await writeFile(this.path(id, 'adv', `${key}.png`), png);
    await appendFile(this.path(id, 'results.jsonl'), `${JSON.stringify(result)}\n`);
    if (set.size >= total) await this.setState(id, (s) => ({ ...s, finishedAt: result.finishedAt }));
  }

  async results(id: string): Promise<ItemResult[]> {
    let text = '';
    try {
      text = await readFile(this.path(id, 'results.jsonl'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // A line cut short by a crash is dropped: its item runs again.
    return text.split('\n').filter(Boolean).flatMap((line) => {
      try {
        return [JSON.parse(line) as ItemResult];
      } catch {
        return [];
      }
    });
  }

  async resultCount(id: string): Promise<number> {
    return (await this.finishedSet(id)).size;
  }

  async hasResult(id: string, image: number, method: number): Promise<boolean> {
    return (await this.finishedSet(id)).has(itemKey(image, method));
  }

  adversarial(id: string, image: number, method: number): Promise<Buffer | undefined> {
    return readFile(this.path(id, 'adv', `${itemKey(image, method)}.png`)).catch(() => undefined);
  }

  async cancel(id: string): Promise<void> {
    await this.setState(id, (s) => ({ ...s, cancelledAt: new Date().toISOString() }));
    this.finished.delete(id);
    for (const part of ['input', 'adv', 'results.jsonl']) await rm(this.path(id, part), { recursive: true, force: true });
  }

  async remove(id: string): Promise<void> {
    this.finished.delete(id);
    await rm(this.path(id), { recursive: true, force: true });
  }

  /** Every job folder with a record. */
  async list(): Promise<JobRecord[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: JobRecord[] = [];
    for (const name of names.filter((n) => ID.test(n))) {
      const record = await this.record(name);
      if (record) out.push(record);
    }
    return out;
  }

  async ownerJobs(owner: string): Promise<string[]> {
    return (await this.list()).filter((j) => j.owner === owner).map((j) => j.id);
  }

  /** Removes jobs finished or cancelled more than the TTL ago, and submissions interrupted (no job.json) as long ago. */
  async sweep(now = Date.now()): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => ID.test(n))) {
      const record = await this.record(name);
      if (!record) {
        const st = await stat(this.path(name)).catch(() => undefined);
        if (st && now - st.mtimeMs > this.ttlMs) await this.remove(name);
        continue;
      }
      const state = await this.state(name);
      const ended = state.cancelledAt ?? state.finishedAt;
      if (ended && now - Date.parse(ended) > this.ttlMs) await this.remove(name);
    }
  }

  async bump(stat: StatName): Promise<void> {
    this.counters[stat]++;
  }

  async stats(): Promise<Record<StatName, number>> {
    return { ...this.counters };
  }

  async close(): Promise<void> {}
}
