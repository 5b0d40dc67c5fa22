import t from 'tap';
import request from 'supertest';
import net, { type AddressInfo } from 'node:net';
import { PROBLEM_BASE } from '../../src/errors';
import { isProblem, setup } from './helpers';

t.test('models, health, readiness', async (t) => {
  const { server, engine } = await setup(t, { engine: { ready: false } });
  let res = await request(server).get('/healthz');
  t.equal(res.status, 200);
  t.same(res.body, { status: 'ok' });

  res = await request(server).get('/readyz');
  isProblem(t, res, 503, 'not-ready');
  t.equal(res.headers['retry-after'], '5');
  res = await request(server).get('/v1/models');
  isProblem(t, res, 503, 'not-ready');
  t.equal(res.headers['retry-after'], '5', 'GET /v1/models while loading: 503, not an empty list');
  engine.ready = true;
  res = await request(server).get('/readyz');
  t.equal(res.status, 200);
  t.same(res.body, { status: 'ok' });

  res = await request(server).get('/v1/models');
  t.equal(res.status, 200);
  t.equal(res.body.backend, 'fake');
  t.same(res.body.models.map((m: { id: string }) => m.id), ['fake_a', 'fake_b']);
  t.match(res.body.models[0], { labels: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'], inputSize: [224, 224], format: 'layers' });
  t.match(res.body.models[0], { classes: 5, classIds: ['c_drawing', 'c_hentai', 'c_neutral', 'c_porn', 'c_sexy'], inputRange: [0, 1], layout: 'NHWC', channelOrder: 'RGB', resize: 'squash', quantization: 'none', source: 'fake' });
});

t.test('unknown routes are problem+json 404s; wrong methods on known paths 405s with Allow', async (t) => {
  const { server } = await setup(t);
  const body = isProblem(t, await request(server).get('/v2/nothing?x=1'), 404, 'not-found');
  t.equal(body.instance, '/v2/nothing');
  isProblem(t, await request(server).post('/v1/attack'), 404, 'not-found');

  let res = await request(server).get('/v1/attack/targeted?target=1');
  const p = isProblem(t, res, 405, 'method-not-allowed');
  t.equal(res.headers.allow, 'POST');
  t.match(p.detail, /\/v1\/attack\/targeted does not take GET; it takes POST/);
  t.equal(p.instance, '/v1/attack/targeted');
  res = await request(server).delete('/v1/classify');
  isProblem(t, res, 405, 'method-not-allowed');
  t.equal(res.headers.allow, 'POST');
  res = await request(server).put('/healthz');
  isProblem(t, res, 405, 'method-not-allowed');
  t.equal(res.headers.allow, 'GET, HEAD');
  res = await request(server).delete('/v1/models');
  isProblem(t, res, 405, 'method-not-allowed');
  t.match(res.headers.allow, /\bGET\b/);
  res = await request(server).post('/docs/static/index.html');
  isProblem(t, res, 405, 'method-not-allowed');
  t.match(res.headers.allow, /\bGET\b/, 'wildcard routes too');
});

t.test('an HTTP/1.1 request without a Host header: 400 problem+json', async (t) => {
  const { app } = await setup(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const send = (raw: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end(raw));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (c) => (data += c));
      socket.on('error', reject);
      socket.on('close', () => resolve(data));
    });
  const out = await send('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
  t.match(out, /^HTTP\/1\.1 400 /);
  t.match(out, /content-type: application\/problem\+json/i);
  const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
  t.match(body, { type: PROBLEM_BASE + 'invalid-parameter', status: 400, param: 'Host' });
  t.match(await send('GET /healthz HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /, 'HTTP/1.0 needs no Host');
  t.match(await send('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
});

t.test('request ids: generated, or taken from a plain X-Request-Id', async (t) => {
  const { server } = await setup(t);
  let res = await request(server).get('/healthz');
  t.match(res.headers['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  res = await request(server).get('/healthz').set('X-Request-Id', 'trace-123');
  t.equal(res.headers['x-request-id'], 'trace-123');
  res = await request(server).get('/healthz').set('X-Request-Id', 'bad id with spaces');
  t.not(res.headers['x-request-id'], 'bad id with spaces');
  const problem = await request(server).get('/nope').set('X-Request-Id', 'trace-456');
  t.equal(problem.body.requestId, 'trace-456', 'problem bodies carry the request id');
});

t.test('OpenAPI document and Swagger UI', async (t) => {
  const { server } = await setup(t);
  let res = await request(server).get('/openapi.json');
  t.equal(res.status, 200);
  t.equal(res.body.openapi, '3.0.3');
  t.equal(res.body.info.title, 'advserve');
  t.ok(res.body.paths['/v1/attack/targeted'].post.requestBody.content['multipart/form-data']);
  t.ok(res.body.paths['/v1/attack/targeted'].post.requestBody.content['image/png']);
  t.notOk(res.body.paths['/openapi.json'], 'the document does not list itself');
  res = await request(server).get('/docs').redirects(2);
  t.equal(res.status, 200);
  t.match(res.text, /swagger/i);
});

t.test('requests that do not parse: problem+json from the framework and HTTP layers', async (t) => {
  const { app } = await setup(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const net = await import('node:net');
  const raw = (text: string) =>
    new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      let out = '';
      c.on('data', (d) => (out += d));
      c.on('close', () => resolve(out));
      c.on('error', () => resolve(out));
      c.end(text);
    });
  let out = await raw('GET /%zz%% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(out, /^HTTP\/1\.1 400/);
  t.match(out, /content-type: application\/problem\+json/i);
  t.match(out, /x-request-id: /i);
  t.match(out, /"type":"https:\/\/advserve\.dev\/problems\/invalid-parameter"/);
  // Body shorter than its Content-Length, then the client half-closes: node's parser fails.
  out = await raw('POST /v1/attack/targeted?target=1 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\nabc');
  t.match(out, /^HTTP\/1\.1 400/);
  t.match(out, /content-type: application\/problem\+json/i);
  t.match(out, /"status":400/);
});
