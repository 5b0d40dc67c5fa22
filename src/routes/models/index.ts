/** The model registry: GET /v1/models/{id}, POST /v1/models, DELETE /v1/models/{id} (GET /v1/models is in ../meta.ts). */
import type { FastifyPluginAsync } from 'fastify';
import { isModelHost } from '../../models/store/host';
import { ModelStore } from '../../models/store/store';
import type { RouteDeps } from '../attack';
import { addModelRoute } from './add-model';
import { getModelRoute } from './get-model';
import { removeModelRoute } from './remove-model';

export const modelRoutes: FastifyPluginAsync<RouteDeps> = async (app, deps) => {
  const { engine, config } = deps;
  const store = config.modelStore && isModelHost(engine) ? new ModelStore(config.modelStore, engine, app.log) : undefined;
  await app.register(getModelRoute, deps);
  await app.register(addModelRoute, { ...deps, store });
  await app.register(removeModelRoute, { ...deps, store });
};
