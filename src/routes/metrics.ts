/** GET /metrics (scope admin): the engine's queue, batch and job counters and requests per API key name, in Prometheus text format. */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { RouteDeps } from './attack';
import type { JobService } from '../jobs/service';

export const metricsRoutes: FastifyPluginAsync<RouteDeps & { jobs?: JobService }> = async (app, { engine, jobs }) => {
  app.get(
    '/metrics',
    {
      config: { auth: { scope: 'admin' } },
      schema: {
        operationId: 'metrics',
        tags: ['ops'],
        summary: 'Prometheus metrics: queue depth, batch sizes, step latency, jobs finished/failed/cancelled/rejected, dataset job items queued/running/done/failed/retried.',
        produces: ['text/plain'],
        response: { 200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: Type.String() } } } },
      },
    },
    async (_req, reply) => {
      reply.type('text/plain; version=0.0.4; charset=utf-8');
      return (engine.metricsText?.() ?? '') + app.requestMetrics.render() + '\n' + (jobs ? await jobs.metricsText() : '');
    },
  );
};
