/**
 * Request logging: one line when a request comes in and one when it is answered, with the
 * method and the path only (query strings carry user input such as labels; they stay out of
 * the logs). Probes (/healthz, /readyz), polled every few seconds, log at debug. Fastify's own
 * request logging is turned off in app.ts in favour of these hooks.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

const PROBES = new Set(['/healthz', '/readyz']);

export const pathOf = (request: { url: string }) => request.url.split('?')[0];

/** Probes log at debug, everything else at info. */
export const isProbe = (request: FastifyRequest) => PROBES.has(pathOf(request));

export function addRequestLogging(app: FastifyInstance) {
  app.addHook('onRequest', async (request) => {
    const log = isProbe(request) ? request.log.debug : request.log.info;
    log.call(request.log, { method: request.method, path: pathOf(request) }, 'incoming request');
  });
  app.addHook('onResponse', async (request, reply) => {
    const log = isProbe(request) ? request.log.debug : request.log.info;
    log.call(request.log, { method: request.method, path: pathOf(request), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
  });
}
