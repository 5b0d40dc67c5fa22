/**
 * An AbortSignal for one request: it fires when the client disconnects before the response
 * is sent (so the engine stops iterating for nobody), when the per-request deadline passes, or
 * when a shutdown's grace period ends (src/http/drain.ts; its reason is a 503 shutting-down).
 */
import type { FastifyReply } from 'fastify';
import { deadlineExceeded } from '../errors';
import { abortOnShutdown } from './drain';

export interface RequestAbort {
  signal: AbortSignal;
  /** Call when the work is over (success or not): clears the timer and the listener. */
  done(): void;
}

export class ClientClosedError extends Error {
  constructor() {
    super('The client closed the connection.');
    this.name = 'ClientClosedError';
  }
}

export function requestAbort(reply: FastifyReply, timeoutMs: number): RequestAbort {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(deadlineExceeded(timeoutMs)), timeoutMs);
  // The response's 'close' fires both after a normal finish and when the socket goes away;
  // only the second case (response not finished) means the client left. (The request's own
  // 'close' is no good: it fires as soon as the body has been read.)
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort(new ClientClosedError());
  };
  reply.raw.once('close', onClose);
  if (reply.raw.destroyed) onClose();
  const untrack = abortOnShutdown(reply, controller);
  return {
    signal: controller.signal,
    done() {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      untrack();
    },
  };
}
