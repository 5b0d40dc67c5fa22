/**
 * The job engine's domain errors. It knows nothing of HTTP: src/http/problem.ts maps them to
 * problem+json (404, 409, 429, 503).
 */
export class JobError extends Error {
  override name = 'JobError';
}

/** No job with this id for this key (another key's job is "not found" too). */
export class JobNotFound extends JobError {
  override name = 'JobNotFound';
  constructor(readonly id: string, why = '') {
    super(`No job "${id}"${why}.`);
  }
}

/** The report or the images zip asked for before every item has finished. */
export class JobNotDone extends JobError {
  override name = 'JobNotDone';
  constructor(readonly id: string, done: number, total: number) {
    super(`Job "${id}" has finished ${done} of ${total} items; its report is ready when all have (GET /v1/jobs/${id} or /events shows progress).`);
  }
}

/** The key already has too many items waiting. */
export class JobQueueFull extends JobError {
  override name = 'JobQueueFull';
  constructor(queued: number, adding: number, max: number) {
    super(`This key has ${queued} job items queued and this job adds ${adding}; at most ${max} may be queued per key (ADVSERVE_JOB_MAX_QUEUED). Retry when some have finished.`);
  }
}

/** The job store (Redis) cannot be reached; the request can be retried. */
export class JobStoreUnavailable extends JobError {
  override name = 'JobStoreUnavailable';
  constructor(cause: unknown) {
    super(`The job store cannot be reached (${(cause as Error)?.message ?? String(cause)}); retry shortly.`);
  }
}
