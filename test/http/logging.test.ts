/** Logs: probes at debug, paths without query strings, problems without stack traces. */
import t, { type Test } from 'tap';
import request from 'supertest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { FakeEngine } from '../helpers/fake-engine';
import { makePng } from '../images/fixtures';

async function appWithLog(t: Test, level: string, ready: boolean) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  const engine = new FakeEngine({ ready });
  // On loopback: the open-service warning (test/http/auth.test.ts) is not what these tests read.
  const app = await buildApp({ engine, config: loadConfig({ HOST: '127.0.0.1' }), logger: pino({ level }, stream) });
  t.teardown(() => app.close());
  return { server: app.server, lines, engine };
}

t.test('readiness polls while loading: nothing at info; at debug, no stack and no query string', async (t) => {
  const info = await appWithLog(t, 'info', false);
  for (let i = 0; i < 3; i++) t.equal((await request(info.server).get('/readyz?probe=kubelet')).status, 503);
  t.equal((await request(info.server).get('/healthz')).status, 200);
  t.same(info.lines, [], 'no log line at info for /readyz and /healthz');

  const debug = await appWithLog(t, 'debug', false);
  await request(debug.server).get('/readyz?secret=abc');
  t.ok(debug.lines.length >= 2, 'logged at debug');
  for (const line of debug.lines) {
    t.equal(line.level, 20, `debug: ${line.msg}`);
    t.notOk('err' in line, 'no error object');
    t.notMatch(JSON.stringify(line), /secret|stack|\/work\/|node_modules/, 'no query string, stack or paths');
  }
  t.ok(debug.lines.some((l) => l.problem === 'not-ready' && l.status === 503));
});

t.test('requests log their path only, problems without stack or client input', async (t) => {
  const { server, lines } = await appWithLog(t, 'info', true);
  const res = await request(server).post('/v1/attack/targeted?target=PrivateLabelName&eps=8').set('Content-Type', 'image/png').send(await makePng(4, 4));
  t.equal(res.status, 400);
  const text = lines.map((l) => JSON.stringify(l)).join('\n');
  t.notMatch(text, /PrivateLabelName|eps=8|stack/, 'no query string, no detail quoting the input, no stack');
  t.ok(lines.some((l) => l.msg === 'incoming request' && l.path === '/v1/attack/targeted' && l.method === 'POST'));
  t.ok(lines.some((l) => l.msg === 'request completed' && l.statusCode === 400 && typeof l.ms === 'number'));
  t.ok(lines.some((l) => l.problem === 'unknown-label' && l.param === 'target' && l.level === 30));
  t.ok(lines.every((l) => l.level !== 40), 'a 4xx is not a warning');
});

t.test('503 on an attack while loading: a warning, still without a stack', async (t) => {
  const { server, lines } = await appWithLog(t, 'info', false);
  t.equal((await request(server).post('/v1/classify').set('Content-Type', 'image/png').send(await makePng(4, 4))).status, 503);
  const warn = lines.find((l) => l.level === 40);
  t.match(warn, { problem: 'not-ready', status: 503 });
  t.notOk(warn && 'err' in warn);
});
