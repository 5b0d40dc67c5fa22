/**
 * The one place where errors become responses: every error a route, hook, body parser
 * or plugin throws ends up here and goes out as application/problem+json (RFC 9457).
 * Fastify's and @fastify/multipart's own errors are mapped to our stable types; anything
 * unrecognised is a server bug (500, no internals leaked).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, PROBLEM_BASE, badParam, notFound, notReady, payloadTooLarge, unknownModel, unsupportedMedia } from '../errors';
import { EngineError, EngineNotReady, InvalidOption, UnknownModel } from '../engine/errors';
import { JobError, JobNotDone, JobNotFound, JobQueueFull, JobStoreUnavailable } from '../jobs/errors';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The shape of ajv's error objects that we read (fastify's FastifySchemaValidationError). */
export interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Why a limit is what it is, for the limits a client would not guess (by `param/keyword`). */
const LIMIT_REASONS: Record<string, string> = {
  'eps/minimum': 'the output is rounded to 8 bits, so an L-infinity budget below 1 cannot change a pixel',
};

/** Turns the first schema-validation issue into a 400 naming the parameter. */
export function validationError(issues: ValidationIssue[], where = 'query string'): ApiError {
  const issue = issues[0] ?? {};
  const fromPath = (issue.instancePath ?? '').split('/').filter(Boolean)[0];
  const params = issue.params ?? {};
  const param = fromPath ?? (params.missingProperty as string | undefined) ?? (params.additionalProperty as string | undefined) ?? where;
  let detail = `Parameter "${param}" ${issue.message ?? 'is invalid'}`;
  if (Array.isArray(params.allowedValues)) detail += `: ${params.allowedValues.join(', ')}`;
  const reason = LIMIT_REASONS[`${param}/${issue.keyword}`];
  return badParam(param, `${detail} (${where})${reason ? `: ${reason}` : ''}.`);
}

const MULTIPART_LIMITS: Record<string, string> = {
  FST_PARTS_LIMIT: 'The multipart body has too many parts.',
  FST_FIELDS_LIMIT: 'The multipart body has too many fields.',
};

/** The engine's domain errors (src/engine/errors.ts) as the problems clients see. */
export function engineProblem(err: EngineError): ApiError | undefined {
  if (err instanceof InvalidOption) return badParam(err.param, err.message);
  if (err instanceof UnknownModel) return unknownModel(err.id);
  if (err instanceof EngineNotReady) {
    return err.noModels ? new ApiError(503, 'not-ready', 'No model', err.message, undefined, { 'Retry-After': '5' }) : notReady();
  }
  return undefined;
}

/** The job engine's domain errors (src/jobs/errors.ts) as the problems clients see. */
export function jobProblem(err: JobError): ApiError | undefined {
  if (err instanceof JobNotFound) return new ApiError(404, 'not-found', 'Not found', err.message, 'id');
  if (err instanceof JobNotDone) return new ApiError(409, 'job-not-done', 'Job not done', err.message, 'id', { 'Retry-After': '5' });
  if (err instanceof JobQueueFull) return new ApiError(429, 'queue-full', 'Queue full', err.message, undefined, { 'Retry-After': '30' });
  if (err instanceof JobStoreUnavailable) return new ApiError(503, 'jobs-unavailable', 'Jobs unavailable', err.message, undefined, { 'Retry-After': '5' });
  return undefined;
}

/** Maps an error to the ApiError it stands for; undefined for errors that are server bugs. */
export function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof EngineError) return engineProblem(err);
  if (err instanceof JobError) return jobProblem(err);
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (!e || typeof e !== 'object') return undefined;
  if (Array.isArray(e.validation)) {
    return validationError(e.validation, e.validationContext === 'querystring' ? 'query string' : e.validationContext);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return payloadTooLarge('The request body is larger than the configured limit.');
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return payloadTooLarge(MULTIPART_LIMITS[e.code]);
    case 'FST_FILES_LIMIT':
      return badParam('image', 'Send exactly one file, in the multipart field "image".');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return unsupportedMedia('Send the image as multipart/form-data (field "image") or as a raw image/png, image/jpeg or image/webp body.');
    case 'FST_PROTO_VIOLATION':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return badParam('body', `Malformed multipart body: ${e.message}.`);
  }
  // Other client errors fastify raises itself (bad Content-Length, aborted upload, bad URL...).
  const status = e.statusCode ?? 500;
  if (status === 404) return new ApiError(404, 'not-found', 'Not found', e.message ?? 'Not found.');
  if (status === 413) return payloadTooLarge(e.message ?? 'Payload too large.');
  if (status === 415) return unsupportedMedia(e.message ?? 'Unsupported media type.');
  if (status >= 400 && status < 500) return new ApiError(status, 'invalid-parameter', 'Bad request', e.message ?? 'Bad request.');
  return undefined;
}

export function problemBody(err: ApiError, request: FastifyRequest) {
  return {
    type: PROBLEM_BASE + err.type,
    title: err.title,
    status: err.status,
    detail: err.message,
    ...(err.param !== undefined ? { param: err.param } : {}),
    instance: request.url.split('?')[0],
    requestId: String(request.id),
  };
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: ApiError) {
  return reply
    .code(err.status)
    .headers({ ...err.headers, 'X-Request-Id': String(request.id) }) // also for errors raised before onRequest
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemBody(err, request));
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  if (reply.raw.destroyed) {
    // The client is gone (e.g. it disconnected during an attack); nobody will read an answer.
    request.log.info('client closed the connection before the response');
    return reply.code(499).send();
  }
  const api = toApiError(error);
  if (api) {
    // A problem we answered on purpose: no stack trace (it is not a bug), and no detail for
    // 4xx, which may quote the client's input. Readiness polls answering 503 log at debug.
    const path = request.url.split('?')[0];
    const fields = { problem: api.type, status: api.status, ...(api.param !== undefined ? { param: api.param } : {}) };
    if (path === '/readyz' || path === '/healthz') request.log.debug(fields, 'problem');
    else if (api.status >= 500) request.log.warn(fields, api.message);
    else request.log.info(fields, 'problem');
    return sendProblem(request, reply, api);
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(request, reply, new ApiError(500, 'internal', 'Internal error', 'The server failed to handle the request; see the server log for this request id.'));
}

/** RFC 9112: an HTTP/1.1 request must carry a Host header. */
export const missingHost = () => badParam('Host', 'HTTP/1.1 requests must have a Host header.');

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(request, reply, notFound(request.method, request.url.split('?')[0]));
}

/**
 * Errors node's HTTP parser raises before there is a request object (unparsable request line,
 * headers too large, a body shorter than its Content-Length...). Fastify's default answers
 * plain JSON; this answers problem+json like everything else, then closes the socket.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, type, title] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'deadline-exceeded', 'Request timeout']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'payload-too-large', 'Request headers too large']
    : [400, 'invalid-parameter', 'Bad request'];
  const body = JSON.stringify({ type: PROBLEM_BASE + type, title, status, detail: 'The request could not be parsed as HTTP.' });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
