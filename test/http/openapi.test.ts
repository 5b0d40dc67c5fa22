/** Fails when openapi.yaml no longer matches the route schemas: run `npm run openapi` and commit. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { OPENAPI_PATH, generateOpenApiYaml } from '../../scripts/generate-openapi';

t.test('openapi.yaml is up to date', async (t) => {
  const committed = readFileSync(OPENAPI_PATH, 'utf8');
  const fresh = await generateOpenApiYaml();
  t.ok(committed === fresh, 'openapi.yaml is stale: run `npm run openapi` and commit the result');
});

t.test('openapi.yaml describes what clients need', async (t) => {
  const doc = parse(readFileSync(OPENAPI_PATH, 'utf8'));
  t.equal(doc.openapi, '3.0.3');
  t.same(Object.keys(doc.paths).sort(), ['/healthz', '/metrics', '/readyz', '/v1/attack/targeted', '/v1/attack/untargeted', '/v1/classify', '/v1/defense/evaluate', '/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/events', '/v1/jobs/{id}/images.zip', '/v1/jobs/{id}/images/{n}', '/v1/jobs/{id}/report', '/v1/methods', '/v1/models', '/v1/models/{id}']);
  // The model registry: uploads and removals need a key (scope admin); reading one model does not.
  t.same(doc.paths['/v1/models'].post.security, [{ bearerAuth: [] }], 'POST /v1/models is protected');
  t.same(doc.paths['/v1/models/{id}'].delete.security, [{ bearerAuth: [] }], 'DELETE /v1/models/{id} is protected');
  t.notOk(doc.paths['/v1/models/{id}'].get.security, 'GET /v1/models/{id} is public');
  t.ok(doc.paths['/v1/models'].post.requestBody.content['multipart/form-data'].schema.properties.files, 'the upload form is documented');
  t.same(Object.keys(doc.paths['/v1/models'].post.responses).sort(), ['201', '400', '401', '403', '409', '413', '415', '422', '429', '501', '503']);
  for (const path of ['/v1/attack/targeted', '/v1/attack/untargeted', '/v1/classify']) {
    const op = doc.paths[path].post;
    t.same(Object.keys(op.requestBody.content), ['multipart/form-data', 'image/png', 'image/jpeg', 'image/webp'], `${path} bodies`);
    t.same(op.requestBody.content['multipart/form-data'].schema.properties.image, { type: 'string', format: 'binary', description: 'PNG, JPEG or WebP.' });
    for (const code of ['400', '404', '413', '415', '429', '503']) {
      t.same(op.responses[code].content['application/problem+json'].schema, { $ref: '#/components/schemas/Problem' }, `${path} ${code}`);
    }
    for (const code of ['429', '503']) t.match(op.responses[code].headers['Retry-After'], { schema: { type: 'integer' } }, `${path} ${code} Retry-After`);
  }
  t.same(doc.servers.map((s: { url: string }) => s.url), ['/'], 'relative server URL');
  t.match(doc.paths['/v1/models'].get.responses['503'].headers['Retry-After'], { schema: { type: 'integer' } });
  const eps = doc.paths['/v1/attack/targeted'].post.parameters.find((p: { name: string }) => p.name === 'eps');
  t.match(eps.schema, { minimum: 1, maximum: 64, default: 16 }, 'eps >= 1');
  t.notOk('exclusiveMinimum' in eps.schema);
  const alpha = doc.paths['/v1/attack/targeted'].post.parameters.find((p: { name: string }) => p.name === 'alpha');
  t.match(alpha.schema, { minimum: 0, exclusiveMinimum: true, maximum: 64 }, 'OpenAPI 3.0 exclusiveMinimum');
  t.ok(doc.components.schemas.AttackJson && doc.components.schemas.Problem);
  const evaluate = doc.paths['/v1/defense/evaluate'].post;
  t.same(Object.keys(evaluate.requestBody.content), ['multipart/form-data', 'image/png', 'image/jpeg', 'image/webp']);
  t.match(evaluate.requestBody.content['multipart/form-data'].schema.properties.images, { type: 'array', items: { type: 'string', format: 'binary' } });
  t.same(evaluate.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/DefenseEvalJson' });
  for (const code of ['400', '404', '413', '415', '429', '503', '504']) t.ok(evaluate.responses[code], `evaluate ${code}`);
  t.ok(evaluate.responses['429'].headers['Retry-After'], 'evaluate 429 Retry-After');
});
