/** GET /v1/models, /healthz, /readyz, /openapi.json. */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { notReady } from '../errors';
import { requireReady } from '../http/readiness';
import type { RouteDeps } from './attack';
import { jsonOk, problems } from './responses';
import { HealthJson, ModelsJson } from './schemas';

export const metaRoutes: FastifyPluginAsync<RouteDeps> = async (app, { engine }) => {
  app.get(
    '/v1/models',
    {
      onRequest: requireReady(engine),
      schema: {
        operationId: 'listModels',
        tags: ['models'],
        summary: 'The loaded models and their labels.',
        response: { 200: jsonOk(Type.Ref(ModelsJson), 'The loaded models.'), ...problems(500, 503) },
      },
    },
    async () => ({ models: engine.listModels(), backend: engine.backend }),
  );

  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'health',
        tags: ['ops'],
        summary: 'Liveness: the process answers.',
        response: { 200: jsonOk(Type.Ref(HealthJson), 'Alive.') },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'ready',
        tags: ['ops'],
        summary: 'Readiness: 200 once the models are loaded, 503 before.',
        response: { 200: jsonOk(Type.Ref(HealthJson), 'Ready to serve attacks.'), ...problems(503) },
      },
    },
    async () => {
      if (!engine.ready) throw notReady();
      return { status: 'ok' as const };
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
