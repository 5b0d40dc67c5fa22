/**
 * Request logging, through Fastify's LogController (its supported hook for its own log lines):
 * one line when a request comes in and one when it is answered, with the method and the path
 * only (query strings carry user input such as labels; they stay out of the logs), and never a
 * `req`/`res` object. Probes (/healthz, /readyz), polled every few seconds, log at debug.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';

const PROBES = new Set(['/healthz', '/readyz']);

export const pathOf = (request: { url: string }) => request.url.split('?')[0];

/** Readiness and liveness polls. */
export const isProbe = (request: { url: string }) => PROBES.has(pathOf(request));

const levelFor = (request: FastifyRequest, log: FastifyBaseLogger) => (isProbe(request) ? log.debug : log.info).bind(log);

export class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest) {
    levelFor(request, request.log)({ method: request.method, path: pathOf(request) }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    const fields = { method: request.method, path: pathOf(request), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    // An error here is a failure after the answer started (e.g. a broken response stream).
    if (error) reply.log.error({ ...fields, error: error.message }, 'request errored');
    else levelFor(request, reply.log)(fields, 'request completed');
  }

  override routeNotFound(request: FastifyRequest) {
    request.log.info({ method: request.method, path: pathOf(request) }, 'route not found');
  }
}
