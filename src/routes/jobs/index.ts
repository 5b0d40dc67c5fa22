/** The dataset job routes: POST /v1/jobs, GET /v1/jobs/{id}[/events|/report|/images/{n}|/images.zip], DELETE /v1/jobs/{id}. */
import type { FastifyPluginAsync } from 'fastify';
import type { JobRouteDeps } from './owner';
import { jobResultRoutes } from './results';
import { jobStatusRoutes } from './status';
import { submitJobRoute } from './submit';

export const jobRoutes: FastifyPluginAsync<JobRouteDeps> = async (app, deps) => {
  await app.register(submitJobRoute, deps);
  await app.register(jobStatusRoutes, deps);
  await app.register(jobResultRoutes, deps);
};
