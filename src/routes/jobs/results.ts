/** GET /v1/jobs/{id}/report, /images/{n}, /images.zip, and DELETE /v1/jobs/{id}. */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { badParam, ApiError } from '../../errors';
import { formatReport } from '../../eval/report';
import { problems } from '../responses';
import { ownerOf, type JobRouteDeps } from './owner';
import { JobIdParams, JobImageParams, JobImageQuery, JobReportQuery } from './schemas';
import { strictQuery } from '../../http/params';

const REPORT_TYPES = { md: 'text/markdown; charset=utf-8', csv: 'text/csv; charset=utf-8', json: 'application/json; charset=utf-8' } as const;
const FORMAT = { md: 'markdown', csv: 'csv', json: 'json' } as const;
const text = (description: string) => ({ type: 'string', description });
const notThere = (detail: string) => new ApiError(404, 'not-found', 'Not found', detail);

export const jobResultRoutes: FastifyPluginAsync<JobRouteDeps> = async (app, { jobs }) => {
  app.get<{ Params: JobIdParams; Querystring: JobReportQuery }>(
    '/v1/jobs/:id/report',
    {
      onRequest: strictQuery,
      config: { auth: { scope: 'attack' } },
      schema: {
        operationId: 'getJobReport',
        tags: ['jobs'],
        summary: 'The finished job\'s report: what `advserve eval` writes for the same images, settings and seed (the same rows, byTarget and predictions).',
        params: JobIdParams,
        querystring: JobReportQuery,
        response: {
          200: {
            description: 'The report.',
            content: { 'application/json': { schema: { type: 'object', additionalProperties: true } }, 'text/markdown': { schema: text('markdown') }, 'text/csv': { schema: text('csv') } },
          },
          409: { description: 'job-not-done: not every item has finished (see Retry-After).', content: { 'application/problem+json': { schema: Type.Ref('Problem') } } },
          ...problems(400, 404, 503),
        },
      },
    },
    async (request, reply) => {
      const report = await jobs.report(ownerOf(request), request.params.id);
      const format = request.query.format;
      reply.type(REPORT_TYPES[format]);
      return formatReport(report, FORMAT[format]);
    },
  );

  app.get<{ Params: JobImageParams; Querystring: JobImageQuery }>(
    '/v1/jobs/:id/images/:n',
    {
      onRequest: strictQuery,
      config: { auth: { scope: 'attack' } },
      schema: {
        operationId: 'getJobImage',
        tags: ['jobs'],
        summary: 'One adversarial image of a job (PNG): image number n after the method `method`, once that item has finished.',
        params: JobImageParams,
        querystring: JobImageQuery,
        produces: ['image/png'],
        response: { 200: { description: 'The PNG.', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, ...problems(400, 404, 503) },
      },
    },
    async (request, reply) => {
      const owner = ownerOf(request);
      const { id, n } = request.params;
      const job = await jobs.record(owner, id);
      const methods = job.settings.methods;
      const method = request.query.method ?? (methods.length === 1 ? methods[0] : undefined);
      if (method === undefined) throw badParam('method', `This job has several methods; choose one with ?method= (${methods.join(', ')}).`);
      const m = methods.indexOf(method);
      if (m < 0) throw badParam('method', `The job has no method "${method}"; its methods: ${methods.join(', ')}.`);
      if (n >= job.images.length) throw notThere(`Job "${id}" has ${job.images.length} images (0..${job.images.length - 1}).`);
      const png = await jobs.image(owner, id, n, m);
      if (!png) throw notThere(`Image ${n} (${job.images[n]}) after ${method} is not there: the item has not finished, it failed, or the job was cancelled.`);
      reply.type('image/png').header('Content-Disposition', `inline; filename="${encodeURIComponent(job.images[n].replace(/\.[^./]*$/, ''))}.png"`);
      return png;
    },
  );

  app.get<{ Params: JobIdParams }>(
    '/v1/jobs/:id/images.zip',
    {
      config: { auth: { scope: 'attack' } },
      schema: {
        operationId: 'getJobImagesZip',
        tags: ['jobs'],
        summary: 'Every adversarial image of a finished job as a zip: `<method>/<image name>.png` (failed items are left out).',
        params: JobIdParams,
        produces: ['application/zip'],
        response: {
          200: { description: 'The zip.', content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } },
          409: { description: 'job-not-done: not every item has finished.', content: { 'application/problem+json': { schema: Type.Ref('Problem') } } },
          ...problems(404, 503),
        },
      },
    },
    async (request, reply) => {
      const zip = await jobs.zip(ownerOf(request), request.params.id);
      reply.type('application/zip').header('Content-Disposition', `attachment; filename="job-${request.params.id}.zip"`);
      return reply.send(zip);
    },
  );

  app.delete<{ Params: JobIdParams }>(
    '/v1/jobs/:id',
    {
      config: { auth: { scope: 'attack' } },
      schema: {
        operationId: 'cancelJob',
        tags: ['jobs'],
        summary: 'Cancels a job: waiting items are dropped, running ones stop at their next iteration, results and images are deleted; the status says "cancelled" until the job expires.',
        params: JobIdParams,
        response: { 204: { description: 'Cancelled.', type: 'null' }, ...problems(404, 503) },
      },
    },
    async (request, reply) => {
      await jobs.cancel(ownerOf(request), request.params.id);
      reply.code(204).send();
    },
  );
};
