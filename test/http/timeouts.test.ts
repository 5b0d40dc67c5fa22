/** HTTP timeouts on a listening app: slow headers are cut off, idle keep-alive connections closed. */
import t, { type Test } from 'tap';
import net, { type AddressInfo } from 'node:net';
import { REQUEST_RECEIVE_MARGIN_MS, loadConfig, type Config } from '../../src/config';
import { setup } from './helpers';

async function listening(t: Test, config: Partial<Config>) {
  const { app } = await setup(t, { config });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as AddressInfo).port };
}

t.test('defaults and configuration', async (t) => {
  const c = loadConfig({});
  t.equal(c.headersTimeoutMs, 10_000);
  t.equal(c.keepAliveTimeoutMs, 5_000);
  const e = loadConfig({ ADVSERVE_HEADERS_TIMEOUT_MS: '2000', ADVSERVE_KEEPALIVE_TIMEOUT_MS: '700', ADVSERVE_REQUEST_TIMEOUT_MS: '60000' });
  t.same([e.headersTimeoutMs, e.keepAliveTimeoutMs, e.requestTimeoutMs], [2000, 700, 60_000]);
  t.throws(() => loadConfig({ ADVSERVE_HEADERS_TIMEOUT_MS: 'soon' }), /ADVSERVE_HEADERS_TIMEOUT_MS must be an integer/);
  t.throws(() => loadConfig({ ADVSERVE_HEADERS_TIMEOUT_MS: '100000', ADVSERVE_REQUEST_TIMEOUT_MS: '5000' }), /at most ADVSERVE_REQUEST_TIMEOUT_MS/);

  const { app } = await listening(t, { headersTimeoutMs: 2000, keepAliveTimeoutMs: 700, requestTimeoutMs: 60_000 });
  t.equal(app.server.headersTimeout, 2000);
  t.equal(app.server.keepAliveTimeout, 700);
  t.equal(app.server.requestTimeout, 60_000 + REQUEST_RECEIVE_MARGIN_MS, 'request deadline plus the margin');
});

t.test('a client sending its headers 1 byte at a time is cut off with a 408', async (t) => {
  const { port } = await listening(t, { headersTimeoutMs: 400 });
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (c) => (received += c));
  socket.on('error', () => {});
  const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(1000);
  let sent = 0;
  const started = Date.now();
  const trickle = setInterval(() => {
    if (!socket.destroyed && sent < head.length) socket.write(head[sent++]);
  }, 20);
  const closedAfter = await new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  clearInterval(trickle);
  t.ok(sent < head.length, `cut off after ${sent} bytes`);
  t.ok(closedAfter < 3000, `closed after ${closedAfter} ms (headers timeout 400 ms)`);
  t.match(received, /^HTTP\/1\.1 408 /);
  t.match(received, /application\/problem\+json/);
});

t.test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const { port } = await listening(t, { keepAliveTimeoutMs: 300 });
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (c) => (received += c));
  await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  const sentAt = Date.now();
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const closedAfter = await new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - sentAt)));
  t.match(received, /^HTTP\/1\.1 200 /, 'answered');
  t.ok(closedAfter >= 250 && closedAfter < 3000, `closed ${closedAfter} ms after the request`);
});
