/** DELETE /v1/models/{id} (scope admin): stops serving a store model and removes its folder; requests already using it finish first. */
import type { FastifyPluginAsync } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { modelStoreNotConfigured } from '../../errors';
import { requireReady } from '../../http/readiness';
import type { ModelStore } from '../../models/store/store';
import type { RouteDeps } from '../attack';
import { ModelIdParams, registryProblems } from './responses';

export const removeModelRoute: FastifyPluginAsync<RouteDeps & { store?: ModelStore }> = async (app, { engine, store }) => {
  app.delete<{ Params: Static<typeof ModelIdParams> }>(
    '/v1/models/:id',
    {
      onRequest: requireReady(engine),
      config: { auth: { scope: 'admin' } },
      schema: {
        operationId: 'removeModel',
        tags: ['models'],
        summary: 'Removes a model of the model store: new requests for it get 404 at once, running ones finish, then it is freed and its folder deleted.',
        params: ModelIdParams,
        response: { 204: { description: 'Removed.', type: 'null' }, ...registryProblems(404, 409, 501, 503) },
      },
    },
    async (request, reply) => {
      if (!store) throw modelStoreNotConfigured();
      await store.remove(request.params.id);
      reply.code(204).send();
    },
  );
};
