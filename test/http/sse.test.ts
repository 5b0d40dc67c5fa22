/**
 * Live progress over server-sent events (Accept: text/event-stream on the attack routes),
 * with real HTTP requests on loopback against the app on a fake engine that reports progress.
 */
import t, { type Test } from 'tap';
import sharp from 'sharp';
import Fastify from 'fastify';
import { buildApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { ApiError, PROBLEM_BASE } from '../../src/errors';
import type { AttackOutcome, AttackProgress } from '../../src/engine/types';
import { ClientClosedError } from '../../src/http/abort';
import { wantsEventStream } from '../../src/http/accept';
import { streamAttack } from '../../src/http/sse';
import { FakeEngine } from '../helpers/fake-engine';
import { ProgressEngine } from '../helpers/progress-engine';
import { makePng } from '../images/fixtures';

interface SseEvent {
  event: string;
  data: string;
}

/** Parses a text/event-stream body (comments kept as event ':'). */
function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      if (lines.every((l) => l.startsWith(':'))) return { event: ':', data: lines.map((l) => l.slice(1).trim()).join('\n') };
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data };
    });
}

async function listen(t: Test, engine: FakeEngine, config: Partial<Config> = {}) {
  const app = await buildApp({ engine, config: { ...loadConfig({}), ...config }, logger: false });
  t.teardown(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

async function imageForm(fields: Record<string, string>, png?: Buffer) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('image', new Blob([png ?? (await makePng(8, 6))], { type: 'image/png' }), 'x.png');
  return form;
}

const SSE = { Accept: 'text/event-stream' };

t.test('Accept negotiation: text/event-stream only when named and preferred', async (t) => {
  t.equal(wantsEventStream('text/event-stream'), true);
  t.equal(wantsEventStream('text/event-stream, */*;q=0.5'), true);
  t.equal(wantsEventStream('text/event-stream, application/json'), true, 'named first at equal q');
  t.equal(wantsEventStream('application/json, text/event-stream'), false, 'JSON named first');
  t.equal(wantsEventStream('text/event-stream;q=0.5, image/png'), false);
  t.equal(wantsEventStream('*/*'), false);
  t.equal(wantsEventStream('text/*'), false, 'a wildcard is not a request for events');
  t.equal(wantsEventStream(undefined), false);
});

t.test('targeted: progress events in order, then the result; the image decodes to a PNG within eps', async (t) => {
  const engine = new ProgressEngine();
  const base = await listen(t, engine);
  const input = await makePng(8, 6);
  const res = await fetch(`${base}/v1/attack/targeted`, {
    method: 'POST',
    headers: SSE,
    body: await imageForm({ target: 'Porn', eps: '4', iterations: '5' }, input),
  });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  t.match(res.headers.get('cache-control'), /no-cache/);
  t.ok(res.headers.get('x-request-id'), 'request id header');
  const events = parseEvents(await res.text());
  const progress = events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data) as AttackProgress);
  t.same(progress.map((p) => p.iteration), [0, 1, 2, 3, 4, 5], 'one report per iteration, then the final one');
  t.ok(progress.every((p) => p.iterations === 5), 'iterations in every report');
  t.match(progress[0], { target: { index: 3, label: 'Porn' }, models: [{ id: 'fake_a' }, { id: 'fake_b' }], ensemble: { label: 'Neutral' } });
  t.same(events.map((e) => e.event), [...progress.map(() => 'progress'), 'result'], 'the result is last, nothing else');

  const result = JSON.parse(events.at(-1)!.data);
  t.match(result, { method: 'mng-l1', eps: 4, iterations: 5, targeted: true, target: { index: 3, label: 'Porn' }, success: true });
  const out = await sharp(Buffer.from(result.image, 'base64')).raw().toBuffer({ resolveWithObject: true });
  const inp = await sharp(input).raw().toBuffer({ resolveWithObject: true });
  t.equal(out.info.format, 'raw');
  t.same([out.info.width, out.info.height, out.info.channels], [inp.info.width, inp.info.height, inp.info.channels], 'same size');
  let linf = 0;
  for (let i = 0; i < out.data.length; i++) linf = Math.max(linf, Math.abs(out.data[i] - inp.data[i]));
  t.ok(linf > 0 && linf <= 4, `within eps (L-inf ${linf})`);
  t.equal(result.linf, linf, 'reported L-inf matches the image');
});

t.test('untargeted route streams too; Accept: application/json still answers JSON', async (t) => {
  const engine = new ProgressEngine();
  const base = await listen(t, engine);
  const res = await fetch(`${base}/v1/attack/untargeted?iterations=2`, { method: 'POST', headers: SSE, body: await imageForm({}) });
  t.equal(res.status, 200);
  const events = parseEvents(await res.text());
  t.same(events.map((e) => e.event), ['progress', 'progress', 'progress', 'result']);

  const json = await fetch(`${base}/v1/attack/untargeted?iterations=2`, { method: 'POST', headers: { Accept: 'application/json' }, body: await imageForm({}) });
  t.match(json.headers.get('content-type'), /^application\/json/);
  t.type(((await json.json()) as { image: unknown }).image, 'string');
});

t.test('errors found before the attack starts stay problem+json with their status', async (t) => {
  const engine = new ProgressEngine();
  const base = await listen(t, engine);
  let res = await fetch(`${base}/v1/attack/targeted`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'Porn', eps: '99' }) });
  t.equal(res.status, 400);
  t.match(res.headers.get('content-type'), /^application\/problem\+json/);
  t.match(await res.json(), { type: PROBLEM_BASE + 'invalid-parameter', param: 'eps' });

  res = await fetch(`${base}/v1/attack/targeted`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'no such class' }) });
  t.equal(res.status, 400);
  t.match(await res.json(), { param: 'target' });

  engine.reject = new ApiError(429, 'queue-full', 'Too many requests', 'The service is working on 4 jobs; retry later.', undefined, { 'Retry-After': '1' });
  res = await fetch(`${base}/v1/attack/targeted`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'Porn' }) });
  t.equal(res.status, 429, 'admission refused: 429, not a stream');
  t.equal(res.headers.get('retry-after'), '1');
  t.match(await res.json(), { type: PROBLEM_BASE + 'queue-full', status: 429 });
});

t.test('a failure after the stream began is an error event with the problem+json object', async (t) => {
  const engine = new ProgressEngine();
  const base = await listen(t, engine);

  engine.failAt = { iteration: 2, error: new Error('tensor exploded') };
  let res = await fetch(`${base}/v1/attack/targeted?iterations=4`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'Porn' }) });
  t.equal(res.status, 200);
  let events = parseEvents(await res.text());
  t.same(events.map((e) => e.event), ['progress', 'progress', 'error']);
  const bug = JSON.parse(events[2].data);
  t.match(bug, { type: PROBLEM_BASE + 'internal', status: 500, title: 'Internal error', instance: '/v1/attack/targeted' });
  t.notMatch(bug.detail, /exploded/, 'no internals leaked');
  t.equal(bug.requestId, res.headers.get('x-request-id'));

  // The request deadline passing mid-attack: a 504 problem in the error event.
  const slow = new ProgressEngine();
  slow.stepMs = 150;
  const slowBase = await listen(t, slow, { requestTimeoutMs: 500 });
  res = await fetch(`${slowBase}/v1/attack/targeted?iterations=20`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'Porn' }) });
  events = parseEvents(await res.text());
  t.equal(events.at(-1)!.event, 'error');
  t.match(JSON.parse(events.at(-1)!.data), { type: PROBLEM_BASE + 'deadline-exceeded', status: 504 });
  t.ok(events.filter((e) => e.event === 'progress').length < 20, 'cut before the last iteration');
});

t.test('a client that disconnects mid-stream cancels the attack, and the server keeps serving', async (t) => {
  const engine = new ProgressEngine();
  engine.stepMs = 100;
  const base = await listen(t, engine);
  const controller = new AbortController();
  const res = await fetch(`${base}/v1/attack/targeted?iterations=50`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'Porn' }), signal: controller.signal });
  t.equal(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  t.match(new TextDecoder().decode(first.value), /event: progress/, 'a progress event arrived');
  controller.abort();
  await reader.cancel().catch(() => undefined);

  const started = Date.now();
  while (engine.aborted.length === 0 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
  t.equal(engine.aborted.length, 1, 'the attack was aborted');
  t.ok(engine.aborted[0] instanceof ClientClosedError, 'because the client left');

  engine.stepMs = 0;
  const next = await fetch(`${base}/v1/attack/targeted?iterations=1`, { method: 'POST', headers: SSE, body: await imageForm({ target: 'Porn' }) });
  t.same(parseEvents(await next.text()).map((e) => e.event), ['progress', 'progress', 'result'], 'the next stream is served');
});

t.test('keep-alive comments while nothing happens; the stream opens with the first one', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.get('/slow', async (request, reply) =>
    streamAttack(
      request,
      reply,
      async (onProgress) => {
        await new Promise((r) => setTimeout(r, 400));
        onProgress({ iteration: 1, iterations: 1, target: { index: 0, label: 'a' }, models: [], ensemble: { label: 'a', prob: 1, targetProb: 1 } });
        return {} as AttackOutcome;
      },
      async () => ({ done: true }),
      60,
    ),
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  const res = await fetch(`http://127.0.0.1:${address.port}/slow`);
  const events = parseEvents(await res.text());
  t.equal(events[0].event, ':', 'a comment first');
  t.equal(events[0].data, 'keep-alive');
  t.ok(events.filter((e) => e.event === ':').length >= 2, 'comments repeat while waiting');
  t.same(events.filter((e) => e.event !== ':').map((e) => e.event), ['progress', 'result']);
  t.same(JSON.parse(events.at(-1)!.data), { done: true });
});
