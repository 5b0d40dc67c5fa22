/** API keys, scopes, per-key rate limits and job quotas (src/keys), on the fake engine. */
import t from 'tap';
import request from 'supertest';
import { newKey, parseKeyFile, type Scope } from '../../src/keys/file';
import { makePng } from '../images/fixtures';
import { isProblem, setup } from './helpers';

/** A key file in memory: each key's line parsed back, and the keys to send. */
function keyring(entries: [string, Scope[]][]) {
  const made = entries.map(([name, scopes]) => ({ name, ...newKey(name, scopes) }));
  const apiKeys = parseKeyFile(made.map((m) => m.line).join('\n'), 'test-keys');
  const key = Object.fromEntries(made.map((m) => [m.name, m.key]));
  return { apiKeys, key, lines: made.map((m) => m.line) };
}

const classify = async (server: Parameters<typeof request>[0], key?: string) => {
  const req = request(server).post('/v1/classify').set('Content-Type', 'image/png');
  if (key !== undefined) req.set('Authorization', `Bearer ${key}`);
  return req.send(await makePng(8, 8));
};

t.test('no key file: every route open, as before', async (t) => {
  const { server } = await setup(t);
  t.equal((await classify(server)).status, 200);
  t.equal((await classify(server, 'adv_whatever')).status, 200, 'a stray Authorization header is ignored');
  const metrics = await request(server).get('/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.text, /advserve_requests_total\{key="anonymous",status="200"\} 2/);
});

t.test('keys: 401 with WWW-Authenticate for a missing or wrong key, 403 for a missing scope, 200 with the right key', async (t) => {
  const { apiKeys, key } = keyring([['alice', ['attack']], ['ops', ['admin']], ['root', ['attack', 'admin']]]);
  const { server, engine } = await setup(t, { config: { apiKeys } });

  let body = isProblem(t, await classify(server), 401, 'unauthorized');
  t.match(body.detail, /Authorization: Bearer/);
  let res = await classify(server);
  t.equal(res.headers['www-authenticate'], 'Bearer realm="advserve"');

  res = await classify(server, key.alice + 'x');
  isProblem(t, res, 401, 'unauthorized');
  t.equal(res.headers['www-authenticate'], 'Bearer realm="advserve", error="invalid_token"');
  res = await request(server).post('/v1/classify').set('Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`).send();
  isProblem(t, res, 401, 'unauthorized');
  t.match(res.headers['www-authenticate'], /^Bearer/);
  t.equal(engine.classifyCalls.length, 0, 'nothing ran');

  body = isProblem(t, await classify(server, key.ops), 403, 'forbidden');
  t.match(body.detail, /"ops".*"attack" scope/);
  isProblem(t, await request(server).get('/metrics').set('Authorization', `Bearer ${key.alice}`), 403, 'forbidden');

  t.equal((await classify(server, key.alice)).status, 200);
  t.equal((await classify(server, key.root)).status, 200);
  res = await request(server).post('/v1/attack/targeted?target=Drawing').set('Content-Type', 'image/png').set('Authorization', `bearer ${key.alice}`).send(await makePng(6, 4));
  t.equal(res.status, 200, 'the scheme name is case-insensitive');
  isProblem(t, await request(server).post('/v1/attack/untargeted').set('Content-Type', 'image/png').send(await makePng(6, 4)), 401, 'unauthorized');
  isProblem(t, await request(server).post('/v1/defense/evaluate').set('Content-Type', 'image/png').send(await makePng(6, 4)), 401, 'unauthorized');

  // Open routes stay open.
  for (const path of ['/healthz', '/readyz', '/v1/models', '/openapi.json']) t.equal((await request(server).get(path)).status, 200, path);
  t.ok([200, 302].includes((await request(server).get('/docs')).status), '/docs');

  // /metrics: admin only; counts by key name, never the key.
  res = await request(server).get('/metrics').set('Authorization', `Bearer ${key.ops}`);
  t.equal(res.status, 200);
  t.match(res.text, /advserve_requests_total\{key="alice",status="200"\} 2/);
  t.match(res.text, /advserve_requests_total\{key="root",status="200"\} 1/);
  t.match(res.text, /advserve_requests_total\{key="unauthenticated",status="401"\} 6/);
  t.match(res.text, /advserve_requests_total\{key="ops",status="403"\} 1/);
  for (const k of Object.values(key)) t.notOk(res.text.includes(k) || res.text.includes(k.slice(4, 20)), 'no key in /metrics');
});

t.test('malformed key file lines are refused, naming the line and not echoing it', async (t) => {
  const { lines } = keyring([['a', ['attack']]]);
  t.throws(() => parseKeyFile(`# c\n\n${lines[0]}\n${lines[0].replace(/^a /, 'b ').replace('attack', 'attack,root')}\n`, 'f'), /f: line 4: scopes/);
  t.throws(() => parseKeyFile(`${lines[0]}\n${lines[0]}`, 'f'), /line 2: the name "a" is used twice/);
  t.throws(() => parseKeyFile('x attack\n', 'f'), /line 1: expected 3 fields/);
  t.throws(() => parseKeyFile('x attack md5:abc:def\n', 'f'), /line 1: the third field/);
  let message = '';
  try {
    parseKeyFile('x attack adv_secretsecret\n', 'f');
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /line 1/);
  t.notOk(message.includes('adv_secretsecret'), 'the line is not echoed');
});

t.test('rate limit: 429 with Retry-After after N requests per key, counted per key name', async (t) => {
  const { apiKeys, key } = keyring([['alice', ['attack']], ['bob', ['attack', 'admin']]]);
  const { server } = await setup(t, { config: { apiKeys, rateLimit: 3, rateWindowMs: 60_000 } });
  for (let i = 0; i < 3; i++) t.equal((await classify(server, key.alice)).status, 200, `request ${i + 1}`);
  const res = await classify(server, key.alice);
  const body = isProblem(t, res, 429, 'rate-limited');
  t.match(body.detail, /"alice".*more than 3 requests/);
  t.ok(Number(res.headers['retry-after']) >= 1 && Number(res.headers['retry-after']) <= 60, `Retry-After ${res.headers['retry-after']}`);
  t.equal((await classify(server, key.bob)).status, 200, 'another key has its own budget');
  for (let i = 0; i < 5; i++) t.equal((await request(server).get('/healthz')).status, 200, 'open routes are not limited');
  const metrics = await request(server).get('/metrics').set('Authorization', `Bearer ${key.bob}`);
  t.match(metrics.text, /advserve_requests_total\{key="alice",status="429"\} 1/);
});

t.test('rate limit without keys: per client address', async (t) => {
  const { server } = await setup(t, { config: { rateLimit: 2 } });
  t.equal((await classify(server)).status, 200);
  t.equal((await classify(server)).status, 200);
  const res = await classify(server);
  isProblem(t, res, 429, 'rate-limited');
  t.ok(res.headers['retry-after']);
});

t.test('job quota: 429 with Retry-After while a key has its jobs running', async (t) => {
  const { apiKeys, key } = keyring([['alice', ['attack']], ['bob', ['attack']]]);
  const { server, engine } = await setup(t, { config: { apiKeys, keyMaxJobs: 2 }, engine: { attackDelayMs: 400 } });
  const attack = async (k: string) =>
    request(server).post('/v1/attack/targeted?target=0').set('Authorization', `Bearer ${k}`).set('Content-Type', 'image/png').send(await makePng(6, 4));
  const running = [attack(key.alice), attack(key.alice)];
  await new Promise((r) => setTimeout(r, 150));
  const res = await attack(key.alice);
  const body = isProblem(t, res, 429, 'rate-limited');
  t.match(body.detail, /"alice" already has 2/);
  t.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After');
  t.equal((await attack(key.bob)).status, 200, 'another key is not held up');
  for (const r of await Promise.all(running)) t.equal(r.status, 200);
  t.equal((await attack(key.alice)).status, 200, 'admitted again once its jobs finished');
  t.equal(engine.attackCalls.length, 4);
});

t.test('job quota without keys: per client address; a failed request frees its slot', async (t) => {
  const { server } = await setup(t, { config: { keyMaxJobs: 1 } });
  const post = async (qs: string) => request(server).post(`/v1/classify?${qs}`).set('Content-Type', 'image/png').send(await makePng(8, 8));
  isProblem(t, await post('top_k=99'), 400, 'invalid-parameter');
  t.equal((await post('top_k=1')).status, 200);
  t.equal((await post('top_k=1')).status, 200);
});

t.test('OpenAPI: bearer scheme, security and 401/403/429 on protected operations only', async (t) => {
  const { app } = await setup(t);
  const doc = app.swagger() as unknown as {
    components: { securitySchemes: Record<string, unknown> };
    paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
  };
  t.match(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' });
  for (const [path, method] of [['/v1/attack/targeted', 'post'], ['/v1/attack/untargeted', 'post'], ['/v1/classify', 'post'], ['/v1/defense/evaluate', 'post'], ['/metrics', 'get']]) {
    const op = doc.paths[path][method];
    t.same(op.security, [{ bearerAuth: [] }], `${path} security`);
    for (const code of ['401', '403', '429']) t.ok(op.responses[code], `${path} ${code}`);
  }
  for (const path of ['/healthz', '/readyz', '/v1/models']) {
    t.equal(doc.paths[path].get.security, undefined, `${path} open`);
    t.equal(doc.paths[path].get.responses['401'], undefined);
  }
});

t.test('open mode beyond loopback logs a warning at start; loopback or keys do not', async (t) => {
  const { Writable } = await import('node:stream');
  const pino = (await import('pino')).default;
  const { buildApp } = await import('../../src/app');
  const { loadConfig } = await import('../../src/config');
  const { FakeEngine } = await import('../helpers/fake-engine');
  const warnings = async (config: Partial<ReturnType<typeof loadConfig>>) => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
    const app = await buildApp({ engine: new FakeEngine(), config: { ...loadConfig({}), ...config }, logger: pino({ level: 'info' }, stream) });
    await app.close();
    return lines.filter((l) => l.includes('no API keys configured'));
  };
  const open = await warnings({ host: '0.0.0.0' });
  t.equal(open.length, 1);
  t.equal(JSON.parse(open[0]).level, 40, 'at warn');
  for (const host of ['127.0.0.1', '::1', 'localhost']) t.same(await warnings({ host }), [], host);
  t.same(await warnings({ host: '0.0.0.0', apiKeys: keyring([['a', ['attack']]]).apiKeys }), [], 'keys configured');
});
