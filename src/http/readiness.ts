import type { onRequestAsyncHookHandler } from 'fastify';
import type { AttackEngine } from '../engine/types';
import { notReady } from '../errors';

/**
 * onRequest hook for routes that need the models: answers 503 (with Retry-After) before the
 * upload is even read while the engine is still loading.
 */
export const requireReady = (engine: AttackEngine): onRequestAsyncHookHandler =>
  async function readiness() {
    if (!engine.ready) throw notReady();
  };
