/**
 * Runs one job item, (image, method), with the existing engine, exactly as `advserve eval` runs
 * it (src/eval/run.ts: imageVerdict, evalItem), and stores its result. Shared by the embedded
 * queue and the BullMQ workers.
 */
import type { DecodeLimits } from '../images/decode';
import { decodeImage } from '../images/decode';
import { encodePng } from '../images/encode';
import { parseDefense } from '../defense/parse';
import { EngineError, EngineNotReady } from '../engine/errors';
import type { AttackEngine } from '../engine/types';
import { ApiError } from '../errors';
import { EvalUsageError, parseMethod } from '../eval/methods';
import { evalContext, evalItem, imageVerdict } from '../eval/run';
import type { JobStore } from './store';
import { itemCount, type ItemRef, type ItemResult, type JobRecord } from './types';

export interface ItemDeps {
  engine: AttackEngine;
  store: JobStore;
  decodeLimits: DecodeLimits;
}

export type ItemEnd = 'done' | 'failed' | 'skipped';

/**
 * Errors that belong to the item: running it again would fail the same way (an image that does
 * not decode or is too large, a model or method this process does not have). They fail the
 * item, with the reason in the report; anything else is retried.
 */
export function failsItem(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 400 && err.status < 500 && err.status !== 429;
  if (err instanceof EngineError) return !(err instanceof EngineNotReady);
  return err instanceof EvalUsageError;
}

async function compute(engine: AttackEngine, job: JobRecord, ref: ItemRef, bytes: Buffer, limits: DecodeLimits, signal?: AbortSignal) {
  const s = job.settings;
  const name = job.images[ref.image];
  const image = await decodeImage(bytes, limits);
  const ctx = evalContext(engine, s.attackModels, s.labelModels);
  const ids = engine.listModels().map((m) => m.id);
  const defenses = s.defenses.map((d) => parseDefense(d, ids));
  const verdict = await imageVerdict(engine, ctx, s, name, image, { label: s.labels?.[ref.image], target: s.targets?.[ref.image] });
  const out = await evalItem(engine, ctx, { ...s, defenses }, name, image, verdict, parseMethod(s.methods[ref.method]), signal);
  const result: ItemResult = {
    image: ref.image,
    method: ref.method,
    verdict: { clean: verdict.clean, ...(verdict.target !== undefined ? { target: verdict.target } : {}) },
    seconds: out.seconds,
    predictions: out.predictions,
    finishedAt: new Date().toISOString(),
  };
  return { result, png: await encodePng(out.adversarial) };
}

/** Stores an item as failed, with its reason. */
export async function failItem(store: JobStore, job: JobRecord, ref: ItemRef, reason: string): Promise<void> {
  await store.putResult(ref.job, { image: ref.image, method: ref.method, error: reason, finishedAt: new Date().toISOString() }, undefined, itemCount(job));
  await store.bump('failed');
}

/**
 * Runs the item unless its job is gone or cancelled or it has a result already (a re-run after a
 * worker died between storing the result and acknowledging the item). Throws on cancellation
 * (the signal's AbortedError) and on errors worth a retry.
 */
export async function runItem(deps: ItemDeps, ref: ItemRef, signal?: AbortSignal): Promise<ItemEnd> {
  const { store, engine } = deps;
  const job = await store.record(ref.job);
  if (!job || (await store.state(ref.job)).cancelledAt) return 'skipped';
  if (await store.hasResult(ref.job, ref.image, ref.method)) return 'skipped';
  await store.started(ref.job);
  const bytes = await store.input(ref.job, ref.image);
  if (!bytes) return 'skipped'; // cancelled meanwhile
  let computed;
  try {
    computed = await compute(engine, job, ref, bytes, deps.decodeLimits, signal);
  } catch (err) {
    if (signal?.aborted || !failsItem(err)) throw err;
    await failItem(store, job, ref, (err as Error).message);
    return 'failed';
  }
  if ((await store.state(ref.job)).cancelledAt) return 'skipped';
  await store.putResult(ref.job, computed.result, computed.png, itemCount(job));
  await store.bump('done');
  return 'done';
}
