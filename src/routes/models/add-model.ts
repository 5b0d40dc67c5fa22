/**
 * POST /v1/models (scope admin): a model uploaded at run time, as multipart/form-data: field
 * `spec` (its advserve.json, text or file) and one `files` part per file of its folder. It is
 * checked, compiled and warmed up before it serves, and kept in the store for the next start;
 * `?replace=true` replaces a store model of the same id (its running requests finish on it).
 */
import { rm } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { SwaggerTransform } from '@fastify/swagger';
import { modelStoreNotConfigured } from '../../errors';
import { strictQuery } from '../../http/params';
import { requireReady } from '../../http/readiness';
import { receiveModelUpload } from '../../models/store/receive';
import type { ModelStore } from '../../models/store/store';
import type { RouteDeps } from '../attack';
import { jsonOk } from '../responses';
import { ModelInfo } from '../schemas';
import { registryProblems } from './responses';

export const AddModelQuery = Type.Object(
  { replace: Type.Boolean({ default: false, description: 'Replace a store model of the same id (otherwise an existing id is a 409).' }) },
  { additionalProperties: false },
);

const binary = { type: 'string', format: 'binary' };

const body: SwaggerTransform = ({ schema, url }) => ({
  url,
  schema: {
    ...schema,
    body: {
      required: true,
      description: 'The model folder: its advserve.json in field "spec" and each of its files as a "files" part under its own (plain) file name.',
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['spec', 'files'],
            properties: {
              spec: { type: 'string', description: 'The advserve.json (as a text field or a file part); it must give "id". Files it names (model file, labels) must be among the uploaded files.' },
              files: { type: 'array', items: binary, description: 'model.onnx, or model.json and its weight files, plus labels / class id files.' },
            },
          },
        },
      },
    },
  },
});

export const addModelRoute: FastifyPluginAsync<RouteDeps & { store?: ModelStore }> = async (app, { engine, config, store }) => {
  app.post<{ Querystring: Static<typeof AddModelQuery> }>(
    '/v1/models',
    {
      onRequest: [requireReady(engine), strictQuery],
      config: { swaggerTransform: body, auth: { scope: 'admin' } },
      schema: {
        operationId: 'addModel',
        tags: ['models'],
        summary: 'Adds (or replaces) a model at run time; it serves once loaded and warmed up, and is kept in the model store.',
        querystring: AddModelQuery,
        response: {
          201: { ...jsonOk(Type.Ref(ModelInfo), 'The model serves; Location is its URL.'), headers: { Location: { type: 'string', description: '/v1/models/{id}' } } },
          ...registryProblems(400, 409, 413, 415, 422, 501, 503),
        },
      },
    },
    async (request, reply) => {
      if (!store) throw modelStoreNotConfigured();
      const incoming = await store.openIncoming();
      try {
        await receiveModelUpload(request, incoming, { maxBytes: config.modelUploadMaxBytes, maxFiles: config.modelUploadMaxFiles });
        const spec = await store.install(incoming, request.query.replace);
        const info = engine.listModels().find((m) => m.id === spec.id);
        reply.code(201).header('Location', `/v1/models/${encodeURIComponent(spec.id)}`);
        return info;
      } finally {
        await rm(incoming, { recursive: true, force: true });
      }
    },
  );
};
