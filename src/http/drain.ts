/**
 * Graceful drain before the process exits (SIGTERM/SIGINT, src/server.ts). Once it begins,
 * new requests, on kept-alive connections too, get 503 `shutting-down` with Retry-After and
 * Connection: close; requests already in flight may finish. When the grace period is over,
 * cut() aborts the work of the ones still running (through the AbortSignal each route gets
 * from requestAbort), so their routes answer 503 `shutting-down` instead of the connection
 * being dropped; answerRemaining() answers whatever still has no response after that.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { shuttingDown, type ApiError } from '../errors';
import { sendProblem } from './problem';

interface InFlight {
  request: FastifyRequest;
  reply: FastifyReply;
  started: number;
  /** Aborts for the request's work (requestAbort); fired with the cut reason. */
  controllers: Set<AbortController>;
}

/** A request cut at the end of the grace period, for the log. */
export interface CutRequest {
  reqId: string;
  method: string;
  path: string;
  ms: number;
}

/** Each response's entry, so that requestAbort can find the drain of the app that serves it. */
const entries = new WeakMap<ServerResponse, { drain: Drain; entry: InFlight }>();

export class Drain {
  private draining = false;
  private cutReason?: ApiError;
  private readonly inFlight = new Set<InFlight>();
  private idleWaiters: Array<() => void> = [];

  get active(): boolean {
    return this.draining;
  }

  /** Requests received before the drain began and not yet answered. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Adds the hooks: refuse during the drain, track everything else until its response closes. */
  register(app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => {
      if (this.draining) throw shuttingDown('The service is shutting down; send the request again (another instance will take it).');
      const entry: InFlight = { request, reply, started: Date.now(), controllers: new Set() };
      this.inFlight.add(entry);
      entries.set(reply.raw, { drain: this, entry });
      const forget = () => this.forget(entry);
      reply.raw.once('close', forget);
      reply.raw.once('finish', forget);
    });
    // Answers given during the drain (an attack finishing in the grace period) close their connection.
    app.addHook('onSend', async (_request, reply) => {
      if (this.draining) reply.header('Connection', 'close');
    });
  }

  /** From now on new requests get 503 shutting-down. */
  begin(): void {
    this.draining = true;
  }

  /** Resolves true once no request is in flight, or false after `ms`. */
  idle(ms: number): Promise<boolean> {
    if (this.inFlight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.idleWaiters = this.idleWaiters.filter((w) => w !== wake);
        resolve(value);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.idleWaiters.push(wake);
    });
  }

  /** Aborts the work of every request still in flight (and of any that registers work later). */
  cut(reason: ApiError = shuttingDown('The service shut down before the request finished; send it again.')): CutRequest[] {
    this.cutReason = reason;
    const now = Date.now();
    const cut: CutRequest[] = [];
    for (const e of this.inFlight) {
      cut.push({ reqId: String(e.request.id), method: e.request.method, path: e.request.url.split('?')[0], ms: now - e.started });
      for (const c of e.controllers) c.abort(reason);
    }
    return cut;
  }

  /**
   * Answers 503 for the requests that still have no response after cut() (work that takes no
   * signal, an upload still arriving); a response already started cannot change, so its
   * connection is closed. Returns how many there were.
   */
  answerRemaining(): number {
    const reason = this.cutReason ?? shuttingDown('The service shut down before the request finished; send it again.');
    const left = [...this.inFlight];
    for (const e of left) {
      this.forget(e);
      if (!e.reply.sent && !e.reply.raw.headersSent && !e.reply.raw.destroyed) sendProblem(e.request, e.reply, reason);
      else e.reply.raw.destroy();
    }
    return left.length;
  }

  /** Registers an abort for the request's work; it fires at once when the drain already cut. */
  track(entry: InFlight, controller: AbortController): () => void {
    if (this.cutReason) controller.abort(this.cutReason);
    entry.controllers.add(controller);
    return () => entry.controllers.delete(controller);
  }

  private forget(entry: InFlight): void {
    if (!this.inFlight.delete(entry)) return;
    if (this.inFlight.size === 0) for (const wake of [...this.idleWaiters]) wake();
  }
}

/**
 * Lets the drain of the app serving `reply` abort `controller` when it cuts in-flight work.
 * Returns the function that unregisters it (a no-op for apps without a drain).
 */
export function abortOnShutdown(reply: FastifyReply, controller: AbortController): () => void {
  const found = entries.get(reply.raw);
  return found ? found.drain.track(found.entry, controller) : () => {};
}
