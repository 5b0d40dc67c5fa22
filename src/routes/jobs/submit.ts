/** POST /v1/jobs: a dataset job (images or an archive, and eval settings); 202 with its id and links. */
import type { FastifyPluginAsync } from 'fastify';
import type { SwaggerTransform } from '@fastify/swagger';
import { requireReady } from '../../http/readiness';
import { jsonOk, problems } from '../responses';
import { parseJobFields } from './fields';
import { JobCreatedJson, jobForm, jobLinks } from './schemas';
import { readJobUpload } from './upload';
import { ownerOf, type JobRouteDeps } from './owner';

const body: SwaggerTransform = ({ schema, url }) => ({
  url,
  schema: { ...schema, body: { required: true, description: 'The images and the settings `advserve eval` takes.', content: { 'multipart/form-data': { schema: jobForm } } } },
});

export const submitJobRoute: FastifyPluginAsync<JobRouteDeps> = async (app, { engine, config, jobs }) => {
  app.post(
    '/v1/jobs',
    {
      onRequest: requireReady(engine),
      config: { swaggerTransform: body, auth: { scope: 'attack' } },
      schema: {
        operationId: 'createJob',
        tags: ['jobs'],
        summary: 'Submits a dataset job: every image attacked with every method and classified under every defense, as advserve eval does, in the background.',
        response: {
          202: { ...jsonOk(JobCreatedJson, 'Queued; Location is the job\'s status URL.'), headers: { Location: { type: 'string', description: '/v1/jobs/{id}' } } },
          ...problems(400, 404, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const upload = await readJobUpload(request, { maxImages: config.jobMaxImages, maxBytes: config.jobMaxBytes });
      const { settings, classes } = parseJobFields(upload.fields, engine, upload.images.length, config.defenseMaxTransforms);
      const view = await jobs.submit({ owner: ownerOf(request), settings, images: upload.images, classes, backend: engine.backend });
      reply.code(202).header('Location', `/v1/jobs/${view.id}`);
      return { id: view.id, status: 'queued', links: jobLinks(view.id) };
    },
  );
};
