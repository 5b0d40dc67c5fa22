/** Response and request-body descriptions shared by the route schemas. */
import { Type, type TSchema } from '@sinclair/typebox';
import type { SwaggerTransform } from '@fastify/swagger';
import { Problem, imageFormSchema } from './schemas';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid parameter, missing image or unknown label.',
  404: 'Unknown model id.',
  413: 'Request body or image too large (ADVSERVE_MAX_PIXELS; for attacks, ADVSERVE_MAX_ATTACK_PIXELS).',
  415: 'Not a PNG, JPEG or WebP image, or a wrong Content-Type.',
  429: 'Too many jobs admitted (ADVSERVE_MAX_JOBS) or attack pixels in flight (ADVSERVE_MAX_INFLIGHT_PIXELS), or this API key (client, without keys) is over its rate limit (ADVSERVE_RATE_LIMIT) or job quota (ADVSERVE_KEY_MAX_JOBS); retry after Retry-After seconds.',
  500: 'Server error.',
  503: 'The models are still loading (see Retry-After).',
  504: 'The attack did not finish within the request deadline.',
};

/** Statuses answered with a Retry-After header. */
const RETRY_AFTER = new Set([429, 503]);
const retryAfter = { 'Retry-After': { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying.' } };

/** problem+json responses for the given status codes. */
export function problems(...codes: number[]) {
  const out: Record<number, unknown> = {};
  for (const code of codes) {
    out[code] = {
      description: DESCRIPTIONS[code] ?? 'Error.',
      ...(RETRY_AFTER.has(code) ? { headers: retryAfter } : {}),
      content: { 'application/problem+json': { schema: Type.Ref(Problem) } },
    };
  }
  return out;
}

export const jsonOk = (schema: TSchema, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const binary = { type: 'string', format: 'binary' };

/**
 * The image request body exists only in the OpenAPI document: the routes read multipart and
 * raw bodies themselves, and a body schema on the route would make fastify validate the
 * (absent or Buffer) body against it.
 */
export function imageBody(params: TSchema): SwaggerTransform {
  return ({ schema, url }) => ({
    url,
    schema: {
      ...schema,
      body: {
        description: 'The image: multipart field "image" (parameters may be sent as further form fields, which override the query string), or the raw image as the body.',
        content: {
          'multipart/form-data': { schema: imageFormSchema(params) },
          'image/png': { schema: binary },
          'image/jpeg': { schema: binary },
          'image/webp': { schema: binary },
        },
      },
    },
  });
}
