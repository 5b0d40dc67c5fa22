/** Who a job belongs to, and what the job routes get. */
import type { FastifyRequest } from 'fastify';
import type { JobService } from '../../jobs/service';
import type { RouteDeps } from '../attack';

export interface JobRouteDeps extends RouteDeps {
  jobs: JobService;
}

/** The API key's name; without keys every client is "anonymous" (and sees every job, as every route is open). */
export const ownerOf = (request: FastifyRequest) => request.apiKey?.name ?? 'anonymous';
