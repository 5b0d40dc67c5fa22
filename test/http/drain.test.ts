/**
 * The shutdown drain on the app (fake engine, real HTTP on loopback): during the drain new
 * requests get 503 shutting-down with Retry-After and Connection: close; idle() waits for the
 * requests in flight; cut() makes a running attack answer 503 shutting-down (not a dropped
 * connection). The spawned-server test (test/cli/serve-drain.test.ts) covers the signal path.
 */
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { PROBLEM_BASE } from '../../src/errors';
import { Drain } from '../../src/http/drain';
import { FakeEngine } from '../helpers/fake-engine';
import { makePng } from '../images/fixtures';

async function start(t: Test, attackDelayMs: number) {
  const drain = new Drain();
  const app = await buildApp({ engine: new FakeEngine({ attackDelayMs }), config: loadConfig({}), logger: false, drain });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const png = await makePng(8, 8);
  const attack = () => fetch(`${base}/v1/attack/targeted?target=1`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png });
  return { drain, base, attack };
}

t.test('during the drain: new requests 503 shutting-down; the cut attack 503 too', async (t) => {
  const { drain, base, attack } = await start(t, 30_000);
  const running = attack();
  while (drain.pending === 0) await new Promise((r) => setTimeout(r, 10));
  drain.begin();

  const late = await fetch(`${base}/v1/models`);
  t.equal(late.status, 503);
  t.equal(late.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.equal(late.headers.get('connection'), 'close');
  t.match(late.headers.get('retry-after'), /^\d+$/);
  t.match(await late.json(), { type: PROBLEM_BASE + 'shutting-down', status: 503 });

  t.equal(await drain.idle(50), false, 'the attack is still in flight');
  const cut = drain.cut();
  t.match(cut, [{ method: 'POST', path: '/v1/attack/targeted' }]);
  const res = await running;
  t.equal(res.status, 503, 'cut attack answered');
  t.match(res.headers.get('retry-after'), /^\d+$/);
  t.match(await res.json(), { type: PROBLEM_BASE + 'shutting-down', status: 503, instance: '/v1/attack/targeted' });
  t.equal(await drain.idle(1000), true, 'nothing left in flight');
  t.equal(drain.answerRemaining(), 0);
});

t.test('an attack that ends during the drain gets its 200, with Connection: close', async (t) => {
  const { drain, attack } = await start(t, 300);
  const running = attack();
  while (drain.pending === 0) await new Promise((r) => setTimeout(r, 10));
  drain.begin();
  t.equal(await drain.idle(10_000), true, 'idle once the attack is answered');
  const res = await running;
  t.equal(res.status, 200);
  t.equal(res.headers.get('connection'), 'close');
});

t.test('without a drain under way, nothing changes', async (t) => {
  const { drain, attack } = await start(t, 0);
  const res = await attack();
  t.equal(res.status, 200);
  t.not(res.headers.get('connection'), 'close');
  t.equal(drain.pending, 0, 'the answered request is forgotten');
});
