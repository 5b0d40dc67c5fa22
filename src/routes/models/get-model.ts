/** GET /v1/models/{id}: one served model, as in the list (public, like GET /v1/models). */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { unknownModel } from '../../errors';
import { requireReady } from '../../http/readiness';
import type { RouteDeps } from '../attack';
import { jsonOk } from '../responses';
import { ModelInfo } from '../schemas';
import { ModelIdParams, registryProblems } from './responses';

export const getModelRoute: FastifyPluginAsync<RouteDeps> = async (app, { engine }) => {
  app.get<{ Params: Static<typeof ModelIdParams> }>(
    '/v1/models/:id',
    {
      onRequest: requireReady(engine),
      schema: {
        operationId: 'getModel',
        tags: ['models'],
        summary: 'One loaded model: labels, input size, scaling, format, source.',
        params: ModelIdParams,
        response: { 200: jsonOk(Type.Ref(ModelInfo), 'The model.'), ...registryProblems(404, 503) },
      },
    },
    async (request) => {
      const info = engine.listModels().find((m) => m.id === request.params.id);
      if (!info) throw unknownModel(request.params.id);
      return info;
    },
  );
};
