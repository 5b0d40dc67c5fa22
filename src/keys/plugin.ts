/**
 * API keys, scopes, per-key rate limits and job quotas, as a Fastify plugin (register it before
 * the routes). A route opts in with a per-route option:
 *
 *   app.post('/v1/x', { config: { auth: { scope: 'attack', job: true } } }, handler)
 *
 * For such a route, when keys are configured (config.apiKeys), @fastify/bearer-auth reads the
 * `Authorization: Bearer <key>` header and our `auth` callback matches the key against the
 * file's hashes (src/keys/file.ts); a missing or wrong key is a 401 problem+json with
 * `WWW-Authenticate: Bearer`, a key without the route's scope a 403. Without keys every route
 * is open, as before. Routes without the option (/healthz, /readyz, /v1/models, /openapi.json,
 * /docs) are always open and never limited.
 *
 * Limits, on the protected routes only, keyed by the key's name (by client IP without keys):
 * @fastify/rate-limit allows config.rateLimit requests per config.rateWindowMs, and routes with
 * `job: true` allow config.keyMaxJobs requests running at once; both answer 429 problem+json
 * with Retry-After. Every protected request is counted in /metrics by key name and status
 * (`advserve_requests_total`), never by the key itself.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import bearerAuth from '@fastify/bearer-auth';
import rateLimit from '@fastify/rate-limit';
import { Type } from '@sinclair/typebox';
import type { Config } from '../config';
import { Counter } from '../engine/metrics';
import { forbidden, rateLimited, unauthorized } from '../errors';
import { Problem } from '../routes/schemas';
import { matchKey, type ApiKey, type Scope } from './file';

/** The per-route option (route `config.auth`). */
export interface RouteAuth {
  /** The scope a key needs for this route. */
  scope: Scope;
  /** The route runs an attack/classify job: counts against ADVSERVE_KEY_MAX_JOBS. */
  job?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** The key the request authenticated with (undefined when keys are off or before auth). */
    apiKey?: ApiKey;
  }
  interface FastifyInstance {
    /** Protected requests by key name and status, for GET /metrics. */
    requestMetrics: Counter;
  }
}

/** Name of the bearer security scheme in the OpenAPI document (src/http/openapi.ts). */
export const SECURITY_SCHEME = 'bearerAuth';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

const CHALLENGE = 'Bearer realm="advserve"';
const INVALID_CHALLENGE = 'Bearer realm="advserve", error="invalid_token"';

/** Who a request counts against: the key's name, or the client address when keys are off. */
function subject(request: FastifyRequest): string {
  return request.apiKey ? `key:${request.apiKey.name}` : `ip:${request.ip}`;
}

const problemResponse = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/problem+json': { schema: Type.Ref(Problem) } },
});

/** Adds the security requirement and the 401/403/429 answers to a protected route's OpenAPI schema. */
function documentRoute(route: RouteOptions, auth: RouteAuth): void {
  const schema = (route.schema ?? {}) as Record<string, unknown> & { response?: Record<string, unknown> };
  const retryAfter = { 'Retry-After': { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying.' } };
  schema.security = [{ [SECURITY_SCHEME]: [] }];
  schema.response = {
    ...schema.response,
    401: problemResponse('Missing or wrong API key (only when ADVSERVE_API_KEYS_FILE is set); see WWW-Authenticate.', {
      'WWW-Authenticate': { type: 'string', description: 'Bearer realm="advserve"' },
    }),
    403: problemResponse(`The API key lacks the "${auth.scope}" scope.`),
    ...(schema.response?.[429] ? {} : { 429: problemResponse('Too many requests for this key (ADVSERVE_RATE_LIMIT) or too many of its jobs running (ADVSERVE_KEY_MAX_JOBS); retry after Retry-After seconds.', retryAfter) }),
  };
  route.schema = schema;
}

async function keysPlugin(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  const keys = config.apiKeys;
  if (!keys && !LOOPBACK.has(config.host)) {
    app.log.warn(
      { host: config.host },
      'no API keys configured (ADVSERVE_API_KEYS_FILE): anyone who can reach this address can use the service; create keys with `advserve keys add`',
    );
  }

  app.decorate('requestMetrics', new Counter('advserve_requests_total', 'Requests to the protected routes by API key name ("anonymous" without keys, "unauthenticated" for a missing or wrong key) and status.'));
  app.decorateRequest('apiKey', undefined);

  let authenticate: onRequestAsyncHookHandler | undefined;
  if (keys) {
    // addHook false: the plugin decorates app.verifyBearerAuth and we call it per protected route.
    await app.register(bearerAuth, {
      keys: [],
      addHook: false,
      specCompliance: 'rfc6749', // the scheme name is case-insensitive (RFC 9110 11.1)
      verifyErrorLogLevel: null as unknown as string, // our request log line says 401 already
      auth: (key: string, request: FastifyRequest) => {
        const entry = matchKey(keys, key);
        if (entry) request.apiKey = entry;
        return entry !== undefined;
      },
    });
    const verify = app.verifyBearerAuth!;
    authenticate = async function authenticate(request: FastifyRequest, reply: FastifyReply) {
      // Only routes that declare config.auth are given this hook (see the onRoute hook below).
      const route = request.routeOptions.config.auth as NonNullable<typeof request.routeOptions.config.auth>;
      await new Promise<void>((resolve, reject) => {
        verify(request, reply, (err?: Error) => {
          if (!err) return resolve();
          const missing = !request.headers.authorization;
          reject(
            missing
              ? unauthorized('This route needs an API key: send it as "Authorization: Bearer <key>".', CHALLENGE)
              : unauthorized('The API key is not valid.', INVALID_CHALLENGE),
          );
        });
      });
      if (!request.apiKey!.scopes.includes(route.scope)) {
        throw forbidden(`The API key "${request.apiKey!.name}" does not have the "${route.scope}" scope this route needs.`);
      }
    };
  }

  if (config.rateLimit > 0) {
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimit,
      timeWindow: config.rateWindowMs,
      hook: 'onRequest',
      keyGenerator: subject,
      // Open routes (no auth option) are never limited.
      allowList: (request: FastifyRequest) => !request.routeOptions.config?.auth,
      errorResponseBuilder: (request: FastifyRequest, ctx: { max: number; ttl: number }) =>
        rateLimited(
          `${request.apiKey ? `The API key "${request.apiKey.name}"` : 'This client'} has made more than ${ctx.max} requests in ${config.rateWindowMs / 1000} s (ADVSERVE_RATE_LIMIT); retry in ${Math.ceil(ctx.ttl / 1000)} s.`,
          ctx.ttl / 1000,
        ),
    });
  }

  const running = new Map<string, number>();
  const jobQuota: onRequestAsyncHookHandler = async function jobQuota(request, reply) {
    const who = subject(request);
    const n = running.get(who) ?? 0;
    if (n >= config.keyMaxJobs) {
      throw rateLimited(
        `${request.apiKey ? `The API key "${request.apiKey.name}"` : 'This client'} already has ${n} attack/classify requests running (ADVSERVE_KEY_MAX_JOBS); retry when one has finished.`,
        5,
      );
    }
    running.set(who, n + 1);
    // 'close' fires once the response is sent or the connection is gone, whatever the outcome.
    reply.raw.once('close', () => {
      const left = (running.get(who) ?? 1) - 1;
      if (left > 0) running.set(who, left);
      else running.delete(who);
    });
  };

  // After @fastify/rate-limit's onRoute hook: a protected route's onRequest hooks become
  // [authenticate, the route's own (readiness, ...), rate limit, job quota].
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    if (!auth) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [
      ...(authenticate ? [authenticate] : []),
      ...own,
      ...(auth.job && config.keyMaxJobs > 0 ? [jobQuota] : []),
    ] as RouteOptions['onRequest'];
    documentRoute(route, auth);
  });

  app.addHook('onResponse', async (request, reply) => {
    if (!request.routeOptions.config?.auth) return;
    const key = request.apiKey?.name ?? (keys ? 'unauthenticated' : 'anonymous');
    app.requestMetrics.inc({ key, status: String(reply.statusCode) });
  });
}

export const apiKeys = fp(keysPlugin, { name: 'advserve-api-keys', fastify: '5.x' });
