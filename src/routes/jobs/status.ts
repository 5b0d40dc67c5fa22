/** GET /v1/jobs/{id} (status, progress, timing, per-item errors) and GET /v1/jobs/{id}/events (the same, live, as server-sent events). */
import type { FastifyPluginAsync } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { toApiError, problemBody } from '../../http/problem';
import { EventStream } from '../../http/sse';
import { ApiError } from '../../errors';
import { jsonOk, problems } from '../responses';
import { ownerOf, type JobRouteDeps } from './owner';
import { JobIdParams, JobStatusJson, jobLinks } from './schemas';

/** How often the event stream looks at the job (any replica can serve it: the state is in the store). */
export const EVENTS_POLL_MS = 250;
const TERMINAL = new Set(['done', 'failed', 'cancelled']);

export const jobStatusRoutes: FastifyPluginAsync<JobRouteDeps> = async (app, { jobs }) => {
  app.get<{ Params: JobIdParams }>(
    '/v1/jobs/:id',
    {
      config: { auth: { scope: 'attack' } },
      schema: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'A job\'s status, progress (items done of images x methods, per method), timing and failed items.',
        params: JobIdParams,
        response: { 200: jsonOk(JobStatusJson, 'The job.'), ...problems(404, 503) },
      },
    },
    async (request) => ({ ...(await jobs.status(ownerOf(request), request.params.id)), links: jobLinks(request.params.id) }),
  );

  app.get<{ Params: JobIdParams }>(
    '/v1/jobs/:id/events',
    {
      config: { auth: { scope: 'attack' } },
      schema: {
        operationId: 'jobEvents',
        tags: ['jobs'],
        summary: 'The job\'s status as server-sent events: `event: status` (data: the GET /v1/jobs/{id} body) at once and on every change; the stream ends after a final status (done, failed, cancelled).',
        params: JobIdParams,
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string', description: '`event: status` with the job status JSON; `event: error` (a problem+json object) if the job cannot be read any more; `: keep-alive` comments.' } } } },
          ...problems(404, 503),
        },
      },
    },
    async (request, reply) => {
      const owner = ownerOf(request);
      const id = request.params.id;
      let last = JSON.stringify(await jobs.status(owner, id)); // 404 / 503 as ordinary answers
      const stream = new EventStream(reply);
      stream.event('status', { ...JSON.parse(last), links: jobLinks(id) });
      try {
        while (!TERMINAL.has(JSON.parse(last).status) && !reply.raw.destroyed) {
          await sleep(EVENTS_POLL_MS);
          const view = await jobs.status(owner, id);
          // elapsedSeconds changes all the time; an event is sent when anything else does.
          const text = JSON.stringify({ ...view, elapsedSeconds: 0 });
          if (text !== JSON.stringify({ ...JSON.parse(last), elapsedSeconds: 0 })) stream.event('status', { ...view, links: jobLinks(id) });
          last = JSON.stringify(view);
        }
      } catch (err) {
        const api = toApiError(err) ?? new ApiError(500, 'internal', 'Internal error', 'The server failed to read the job; see the server log for this request id.');
        if (api.status >= 500) request.log.warn({ err }, 'job event stream failed');
        stream.event('error', problemBody(api, request));
      }
      stream.end();
      return reply;
    },
  );
};
