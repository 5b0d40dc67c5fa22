/**
 * Errors the service reports to clients. Every error a route can produce is an
 * ApiError with a stable `type` slug; the single error handler in app.ts turns it
 * into application/problem+json (RFC 9457). Anything that is not an ApiError is a
 * bug and is reported as a 500 without internal details.
 */
export const PROBLEM_BASE = 'https://advserve.dev/problems/';

export type ProblemType =
  | 'invalid-parameter'
  | 'missing-image'
  | 'unknown-label'
  | 'unknown-model'
  | 'payload-too-large'
  | 'image-too-large'
  | 'unsupported-media-type'
  | 'not-ready'
  | 'shutting-down'
  | 'queue-full'
  | 'deadline-exceeded'
  | 'not-found'
  | 'method-not-allowed'
  | 'unauthorized'
  | 'forbidden'
  | 'rate-limited'
  | 'invalid-model'
  | 'model-exists'
  | 'model-protected'
  | 'model-store-not-configured'
  | 'job-not-done'
  | 'jobs-unavailable'
  | 'internal';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ProblemType,
    readonly title: string,
    detail: string,
    /** The request parameter at fault, where there is one. */
    readonly param?: string,
    /** Extra headers (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

export const badParam = (param: string, detail: string) =>
  new ApiError(400, 'invalid-parameter', 'Invalid parameter', detail, param);
export const unknownLabel = (param: string, detail: string) =>
  new ApiError(400, 'unknown-label', 'Unknown label', detail, param);
export const missingImage = () =>
  new ApiError(400, 'missing-image', 'Missing image', 'Send the image as multipart field "image" or as the raw body (image/png, image/jpeg, image/webp).', 'image');
export const unknownModel = (id: string) =>
  new ApiError(404, 'unknown-model', 'Unknown model', `No loaded model has id "${id}".`, 'models');
export const payloadTooLarge = (detail: string) =>
  new ApiError(413, 'payload-too-large', 'Payload too large', detail);
export const imageTooLarge = (detail: string) =>
  new ApiError(413, 'image-too-large', 'Image too large', detail, 'image');
export const unsupportedMedia = (detail: string) =>
  new ApiError(415, 'unsupported-media-type', 'Unsupported media type', detail, 'image');
export const notReady = () =>
  new ApiError(503, 'not-ready', 'Not ready', 'The models are still loading; retry shortly.', undefined, { 'Retry-After': '5' });
/** The service is draining before it exits (SIGTERM/SIGINT); the connection is closed after the answer. */
export const shuttingDown = (detail: string) =>
  new ApiError(503, 'shutting-down', 'Shutting down', detail, undefined, { 'Retry-After': '5', Connection: 'close' });
export const deadlineExceeded = (ms: number) =>
  new ApiError(504, 'deadline-exceeded', 'Deadline exceeded', `The request did not finish within ${ms} ms.`);
export const notFound = (method: string, path: string) =>
  new ApiError(404, 'not-found', 'Not found', `No route for ${method} ${path}.`);
export const methodNotAllowed = (method: string, path: string, allow: string[]) =>
  new ApiError(405, 'method-not-allowed', 'Method not allowed', `${path} does not take ${method}; it takes ${allow.join(', ')}.`, undefined, { Allow: allow.join(', ') });
export const unauthorized = (detail: string, challenge: string) =>
  new ApiError(401, 'unauthorized', 'Unauthorized', detail, undefined, { 'WWW-Authenticate': challenge });
export const forbidden = (detail: string) =>
  new ApiError(403, 'forbidden', 'Forbidden', detail);
export const rateLimited = (detail: string, retryAfterSeconds: number) =>
  new ApiError(429, 'rate-limited', 'Too many requests', detail, undefined, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
export const invalidModel = (detail: string) =>
  new ApiError(422, 'invalid-model', 'Invalid model', detail);
export const modelExists = (detail: string) =>
  new ApiError(409, 'model-exists', 'Model exists', detail);
export const modelProtected = (id: string) =>
  new ApiError(409, 'model-protected', 'Model protected', `Model "${id}" is bundled or comes from ADVSERVE_MODEL_DIRS; only models of the model store (ADVSERVE_MODEL_STORE) can be replaced or removed over HTTP.`);
export const modelStoreNotConfigured = () =>
  new ApiError(501, 'model-store-not-configured', 'Model store not configured', 'Adding and removing models at run time needs a model store: start the server with ADVSERVE_MODEL_STORE=<folder>.');
