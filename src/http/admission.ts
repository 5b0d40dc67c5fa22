/**
 * Job admission before the body is read. A route that runs an attack or classify job reserves
 * its engine slot in preParsing, which runs after the onRequest hooks (readiness, API key,
 * per-key rate limit and job quota) and before the body is parsed: a request the service would
 * refuse with 429 queue-full is refused without reading or decoding its body. The engine stays
 * the judge (src/engine/admission.ts); the route hands the ticket to it with the image.
 *
 * The slot is released when the response is over ('close' fires once it is sent or the
 * connection is gone, whatever the outcome); the engine holds it too while it works.
 */
import type { FastifyReply, FastifyRequest, preParsingAsyncHookHandler } from 'fastify';
import type { JobKind, JobTicket } from '../engine/admission';
import type { AttackEngine } from '../engine/types';

const tickets = new WeakMap<FastifyRequest, JobTicket>();

/** The preParsing hook that reserves a `kind` job slot for the request. */
export function reserveJob(engine: AttackEngine, kind: JobKind): preParsingAsyncHookHandler {
  return async function reserveJob(request: FastifyRequest, reply: FastifyReply, payload) {
    if (!engine.reserve) return payload;
    const ticket = engine.reserve(kind);
    tickets.set(request, ticket);
    if (reply.raw.closed) ticket.release();
    else reply.raw.once('close', () => ticket.release());
    return payload;
  };
}

/** The slot reserveJob took for this request (undefined for an engine without admission). */
export function jobTicket(request: FastifyRequest): JobTicket | undefined {
  return tickets.get(request);
}
