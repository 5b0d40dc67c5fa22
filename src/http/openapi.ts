/** @fastify/swagger options: document metadata and the OpenAPI 3.0 touch-ups. */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { PROBLEM_BASE } from '../errors';

import pkg from '../../package.json';

/**
 * The route schemas are JSON Schema draft-07 (what ajv validates), where exclusiveMinimum is
 * a number; OpenAPI 3.0 wants `minimum` plus a boolean. Rewritten in the document only.
 */
function toOpenApi30(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toOpenApi30);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = toOpenApi30(v);
  for (const [ex, plain] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof out[ex] === 'number') {
      out[plain] = out[ex];
      out[ex] = true;
    }
  }
  if ('$id' in out && typeof out.$id === 'string') delete out.$id; // not an OpenAPI 3.0 keyword
  return out;
}

export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.0.3',
    info: {
      title: 'advserve',
      version: pkg.version,
      description:
        `${pkg.description}.\n\n` +
        'Images go in as multipart/form-data (field `image`) or as a raw image/png, image/jpeg or image/webp body. ' +
        'Parameters go in the query string or, for multipart uploads, as form fields. ' +
        `Errors are application/problem+json (RFC 9457) with a stable \`type\` under ${PROBLEM_BASE}.`,
      license: { name: 'MIT' },
    },
    // Relative: Swagger UI's "Try it out" and generated clients use whatever host and port served the document.
    servers: [{ url: '/', description: 'The server this document is served from' }],
    tags: [
      { name: 'attack', description: 'Adversarial attacks on the loaded model ensemble.' },
      { name: 'classify', description: 'Plain classification.' },
      { name: 'defense', description: 'Defenses (input transformations in front of a model) evaluated on adversarial images.' },
      { name: 'models', description: 'The loaded models.' },
      { name: 'ops', description: 'Liveness and readiness probes.' },
    ],
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key from `advserve keys add`, as `Authorization: Bearer <key>`. Checked only when the server has ADVSERVE_API_KEYS_FILE; without it every route is open.',
        },
      },
    },
  },
  // Shared schemas keep their $id as the component name instead of def-0, def-1...
  refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  transformObject: (doc) => finish(toOpenApi30('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as OpenApiDoc) as never,
};

type OpenApiDoc = Record<string, unknown> & { paths?: Record<string, Record<string, { requestBody?: { content?: Record<string, Record<string, unknown>> } }>> };

/** Top-level keys in reading order, and the accepted image types on every multipart `image` part. */
function finish(doc: OpenApiDoc): OpenApiDoc {
  for (const ops of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(ops)) {
      const form = op.requestBody?.content?.['multipart/form-data'];
      if (form) form.encoding = { image: { contentType: 'image/png, image/jpeg, image/webp' } };
    }
  }
  const order = ['openapi', 'info', 'servers', 'tags', 'paths', 'components'];
  const rank = (k: string) => (order.includes(k) ? order.indexOf(k) : order.length);
  return Object.fromEntries(Object.entries(doc).sort(([a], [b]) => rank(a) - rank(b))) as OpenApiDoc;
}
