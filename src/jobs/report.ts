/** A job's status and its report, from its record and its items' results. */
import type { Defense } from '../defense/parse';
import { parseMethod } from '../eval/methods';
import { assembleReport, type EvalItemError, type EvalReport, type EvalResults } from '../eval/run';
import { itemCount, type ItemResult, type JobRecord, type JobState, type JobStatus } from './types';

export interface JobView {
  id: string;
  status: JobStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  cancelledAt?: string;
  /** Seconds from submission to now, or to the end. */
  elapsedSeconds: number;
  progress: {
    images: number;
    total: number;
    done: number;
    failed: number;
    methods: Array<{ method: string; total: number; done: number; failed: number }>;
  };
  /** Items that failed, with the reason. */
  errors: Array<{ image: number; name: string; method: string; reason: string }>;
}

export function statusOf(state: JobState, done: number, failed: number, total: number): JobStatus {
  if (state.cancelledAt) return 'cancelled';
  if (done >= total) return failed >= total ? 'failed' : 'done';
  return state.startedAt ? 'running' : 'queued';
}

export function jobView(job: JobRecord, recorded: JobState, results: ItemResult[], now = Date.now()): JobView {
  const methods = job.settings.methods;
  const total = itemCount(job);
  // A store writes the last item's result first and finishedAt after it: a reader in between sees
  // every item done, and the job ended when its last item did.
  const state = recorded.finishedAt || results.length < total ? recorded : { ...recorded, finishedAt: lastFinished(results) };
  const failedItems = results.filter((r) => r.error !== undefined);
  const status = statusOf(state, results.length, failedItems.length, total);
  const end = state.cancelledAt ?? state.finishedAt;
  return {
    id: job.id,
    status,
    createdAt: job.createdAt,
    ...(state.startedAt ? { startedAt: state.startedAt } : {}),
    ...(state.finishedAt ? { finishedAt: state.finishedAt } : {}),
    ...(state.cancelledAt ? { cancelledAt: state.cancelledAt } : {}),
    elapsedSeconds: Math.max(0, ((end ? Date.parse(end) : now) - Date.parse(job.createdAt)) / 1000),
    progress: {
      images: job.images.length,
      total,
      done: results.length,
      failed: failedItems.length,
      methods: methods.map((method, m) => ({
        method,
        total: job.images.length,
        done: results.filter((r) => r.method === m).length,
        failed: failedItems.filter((r) => r.method === m).length,
      })),
    },
    errors: failedItems
      .sort((a, b) => a.image - b.image || a.method - b.method)
      .map((r) => ({ image: r.image, name: job.images[r.image], method: methods[r.method], reason: r.error! })),
  };
}

/** The `advserve eval` report of a finished job: the same rows, byTarget and predictions eval gives for these images and settings. */
export function jobReport(job: JobRecord, results: ItemResult[]): EvalReport {
  const s = job.settings;
  const methods = s.methods.map(parseMethod);
  // The report reads only the defenses' names.
  const defenses = s.defenses.map((spec) => ({ spec, transforms: [], model: '' }) as Defense);
  const byItem = new Map(results.map((r) => [`${r.image}.${r.method}`, r]));
  const images: EvalResults['images'] = [];
  const errors: EvalItemError[] = [];
  for (const [n, name] of job.images.entries()) {
    const items = methods.map((_, m) => byItem.get(`${n}.${m}`));
    for (const [m, r] of items.entries()) if (r?.error !== undefined) errors.push({ image: name, method: methods[m].name, reason: r.error });
    const ok = items.find((r) => r?.verdict);
    if (!ok?.verdict) continue; // every item of this image failed: it is in errors only
    const { clean, target } = ok.verdict;
    images.push({
      verdict: { info: { name, label: job.classes[clean], ...(target !== undefined ? { target: job.classes[target] } : {}) }, clean, target },
      items: items.map((r) => (r?.predictions ? { seconds: r.seconds ?? 0, predictions: r.predictions } : undefined)),
    });
  }
  return assembleReport(
    { labelModels: s.labelModels, labels: job.classes, attackModels: s.attackModels },
    { ...s, methods, defenses },
    { images, errors },
    { command: `POST /v1/jobs (job ${job.id})`, date: job.createdAt, backend: job.backend },
  );
}

/** The latest of the items' finishedAt (ISO 8601 strings compare in time order). */
function lastFinished(results: ItemResult[]): string | undefined {
  return results.reduce<string | undefined>((latest, r) => (latest === undefined || r.finishedAt > latest ? r.finishedAt : latest), undefined);
}
