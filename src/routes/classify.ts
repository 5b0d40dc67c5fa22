/** POST /v1/classify: top-k labels per model and for the ensemble. */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { badParam } from '../errors';
import { mergeParams, parseModels, strictQuery } from '../http/params';
import { requireReady } from '../http/readiness';
import { readUpload } from '../http/upload';
import { decodeImage } from '../images/decode';
import { jobTicket, reserveJob } from '../http/admission';
import type { RouteDeps } from './attack';
import { imageBody, jsonOk, problems } from './responses';
import { ClassifyJson, ClassifyParams } from './schemas';

export const classifyRoutes: FastifyPluginAsync<RouteDeps> = async (app, { engine, config }) => {
  app.post<{ Querystring: ClassifyParams }>(
    '/v1/classify',
    {
      onRequest: [requireReady(engine), strictQuery],
      preParsing: reserveJob(engine, 'classify'),
      config: { swaggerTransform: imageBody(ClassifyParams), auth: { scope: 'attack', job: true } },
      schema: {
        operationId: 'classify',
        tags: ['classify'],
        summary: 'Classify an image with the loaded models.',
        querystring: ClassifyParams,
        response: { 200: jsonOk(Type.Ref(ClassifyJson), 'Top-k labels per model and for the ensemble.'), ...problems(400, 404, 413, 415, 429, 500, 503) },
      },
    },
    async (request) => {
      const upload = await readUpload(request);
      const p = mergeParams<ClassifyParams>(request, upload.fields);
      const models = parseModels(engine, p.models);
      const labels = engine.labels(models);
      const topK = p.top_k ?? 5;
      if (topK > labels.length) throw badParam('top_k', `Parameter "top_k" must be at most ${labels.length} (the number of labels).`);
      const image = await decodeImage(upload.image, config);
      const ticket = jobTicket(request);
      return engine.classify(image, { topK, ...(models ? { models } : {}), ...(ticket ? { ticket } : {}) });
    },
  );
};
