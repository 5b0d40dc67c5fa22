/**
 * Builds the HTTP application (no listen): request ids, body parsers, multipart, OpenAPI
 * and Swagger UI, the routes, and one problem+json error path for everything.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { REQUEST_RECEIVE_MARGIN_MS, type Config } from './config';
import type { AttackEngine } from './engine/types';
import { swaggerOptions } from './http/openapi';
import { Drain } from './http/drain';
import { RequestLogController } from './http/logging';
import { methodTable } from './http/methods';
import { clientErrorHandler, errorHandler, missingHost } from './http/problem';
import { IMAGE_CONTENT_TYPES, MAX_FIELD_BYTES } from './http/upload';
import { attackRoutes } from './routes/attack';
import { classifyRoutes } from './routes/classify';
import { defenseRoutes } from './routes/defense';
import { metaRoutes } from './routes/meta';
import { methodRoutes } from './routes/methods';
import { metricsRoutes } from './routes/metrics';
import { modelRoutes } from './routes/models';
import { webRoutes } from './routes/web';
import { sharedSchemas } from './routes/schemas';
import { apiKeys } from './keys/plugin';
import { createJobService } from './jobs/create';
import { jobRoutes } from './routes/jobs';

export interface BuildAppOptions {
  engine: AttackEngine;
  config: Config;
  /** Fastify's `logger` option (true/false or pino options), or a ready pino logger instance. */
  logger?: boolean | object;
  /** The shutdown drain (src/server.ts begins it on SIGTERM); one is made when not given. */
  drain?: Drain;
  /** Embedded mode: queue the unfinished items of jobs an earlier run left on disk (the service does; tests need not). */
  resumeJobs?: boolean;
}

/** Incoming X-Request-Id values are kept when they are short and plain (they end up in logs). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function loggerOptions(logger: BuildAppOptions['logger']): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (logger && typeof logger === 'object' && typeof (logger as { child?: unknown }).child === 'function') {
    return { loggerInstance: logger as FastifyServerOptions['loggerInstance'] };
  }
  return { logger: (logger ?? false) as FastifyServerOptions['logger'] };
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { engine, config } = opts;
  const app = Fastify({
    ...loggerOptions(opts.logger),
    bodyLimit: config.maxBodyBytes,
    // Request lines with the path only (no query string), probes at debug: src/http/logging.ts.
    logController: new RequestLogController(),
    // Errors raised before routing (bad URL encoding) and by node's HTTP parser: problem+json too.
    frameworkErrors: errorHandler,
    clientErrorHandler,
    // node would answer an HTTP/1.1 request without Host with an empty 400; the onRequest hook
    // below answers it with problem+json instead.
    // Timeouts against slow clients: headers within ADVSERVE_HEADERS_TIMEOUT_MS, the whole request
    // within the deadline plus a margin (node then answers 408 through clientErrorHandler), idle
    // keep-alive connections closed after ADVSERVE_KEEPALIVE_TIMEOUT_MS. node checks them every
    // connectionsCheckingInterval (its default, 30 s, would let a trickling client stay that long).
    http: {
      requireHostHeader: false,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs + REQUEST_RECEIVE_MARGIN_MS,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.headersTimeoutMs / 4))),
    },
    requestTimeout: config.requestTimeoutMs + REQUEST_RECEIVE_MARGIN_MS,
    // While closing, requests on kept-alive connections get the drain's 503 problem+json (src/http/drain.ts).
    return503OnClosing: false,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    },
  }) as unknown as FastifyInstance;

  const methods = methodTable();
  app.addHook('onRoute', methods.record);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    if (request.raw.httpVersion === '1.1' && !request.headers.host) throw missingHost();
  });
  (opts.drain ?? new Drain()).register(app);

  // Only image uploads are accepted: no JSON or text bodies anywhere, so anything else is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(IMAGE_CONTENT_TYPES, { parseAs: 'buffer', bodyLimit: config.maxBodyBytes }, (_req, body, done) => done(null, body));
  await app.register(multipart, {
    limits: { fileSize: config.maxBodyBytes, files: 1, fields: 20, fieldSize: MAX_FIELD_BYTES, parts: 25 },
  });

  for (const schema of sharedSchemas) app.addSchema(schema);
  await app.register(swagger, swaggerOptions);
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(methods.notFound);

  // API keys, scopes, per-key limits: before the routes, which opt in with config.auth.
  await app.register(apiKeys, { config });

  // Dataset jobs: embedded (this process, local disk) or on Redis for `advserve worker`s (src/jobs/create.ts).
  const jobs = createJobService(config, engine, app.log);
  app.addHook('onClose', () => jobs.service.close());
  if (opts.resumeJobs) void jobs.resume().catch((err) => app.log.error({ err }, 'could not resume the jobs on disk'));

  const deps = { engine, config, jobs: jobs.service };
  await app.register(metaRoutes, deps);
  await app.register(attackRoutes, deps);
  await app.register(classifyRoutes, deps);
  await app.register(defenseRoutes, deps);
  await app.register(metricsRoutes, deps);
  await app.register(modelRoutes, deps);
  await app.register(methodRoutes, deps);
  await app.register(jobRoutes, deps);
  await app.register(webRoutes);

  await app.ready();
  return app;
}
