/**
 * Admission before decoding, with real requests: the attack pixel limit (413 from the header),
 * the in-flight attack pixel budget (429), job slots refused before the body is read (429 for a
 * body that would not even decode), and slots that always come back.
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import sharp from 'sharp';
import { loadConfig } from '../../src/config';
import { makePng, pngWithHeaderSize } from '../images/fixtures';
import { isProblem, setup } from './helpers';

/** A real, plain-coloured PNG (a few hundred bytes even at millions of pixels). */
const plainPng = (width: number, height: number) => sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 30 } } }).png().toBuffer();

/** Bytes that claim to be a PNG but that no decoder takes (415 if anything tried). */
const undecodable = (bytes: number) => Buffer.alloc(bytes, 0x5a);

/** Waits until `cond` holds (the server's state after requests it cannot report synchronously). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const post = (server: http.Server, path: string, body: Buffer) => request(server).post(path).set('Content-Type', 'image/png').send(body);

t.test('attack pixel limit: defaults and configuration', async (t) => {
  const config = loadConfig({});
  t.equal(config.maxAttackPixels, 4_194_304, 'attacks: 2048 x 2048 by default');
  t.equal(config.maxInflightPixels, 2 * 4_194_304, 'in flight: two of the largest');
  t.equal(config.maxPixels, 25_000_000, 'classify keeps its larger limit');
  t.equal(loadConfig({ ADVSERVE_MAX_ATTACK_PIXELS: '1000' }).maxInflightPixels, 2000, 'the budget follows the attack limit');
  t.throws(() => loadConfig({ ADVSERVE_MAX_ATTACK_PIXELS: '1000', ADVSERVE_MAX_INFLIGHT_PIXELS: '999' }), /ADVSERVE_MAX_INFLIGHT_PIXELS \(999\) must be at least ADVSERVE_MAX_ATTACK_PIXELS/);
  t.throws(() => loadConfig({ ADVSERVE_MAX_ATTACK_PIXELS: '0' }), /ADVSERVE_MAX_ATTACK_PIXELS must be an integer/);
  t.throws(() => loadConfig({ ADVSERVE_MAX_INFLIGHT_PIXELS: '20000001' }), /ADVSERVE_MAX_INFLIGHT_PIXELS must be an integer in \[1, 20000000\]/, 'never past what the wasm heap holds');
  t.equal(loadConfig({ ADVSERVE_MAX_ATTACK_PIXELS: '16000000' }).maxInflightPixels, 20_000_000, 'twice the attack limit, capped');
});

t.test('an attack over the attack pixel limit is a 413 read from the header; classify takes the same image', async (t) => {
  const { server, engine } = await setup(t);
  // 3000 x 2000 claimed by a 1x1 PNG: refused from the header (decoding it would be a 415).
  let body = isProblem(t, await post(server, '/v1/attack/targeted?target=0', await pngWithHeaderSize(3000, 2000)), 413, 'image-too-large', 'image');
  t.match(body.detail, /3000x2000 = 6000000 pixels; attacks take at most 4194304 pixels \(ADVSERVE_MAX_ATTACK_PIXELS/);
  body = isProblem(t, await request(server).post('/v1/attack/untargeted').attach('image', await pngWithHeaderSize(2049, 2048), 'x.png'), 413, 'image-too-large', 'image');
  t.match(body.detail, /2049x2048 = 4196352 pixels; attacks take at most 4194304/, 'multipart too, one column over 2048 x 2048');
  t.equal(engine.attackCalls.length, 0, 'no attack ran');

  const big = await plainPng(2100, 2100);
  isProblem(t, await post(server, '/v1/attack/targeted?target=0', big), 413, 'image-too-large', 'image');
  const res = await post(server, '/v1/classify', big);
  t.equal(res.status, 200, 'classify: 4.41 MP is under ADVSERVE_MAX_PIXELS');
  t.equal(engine.classifyCalls[0].image.width, 2100);
  isProblem(t, await post(server, '/v1/classify', await pngWithHeaderSize(6000, 5000)), 413, 'image-too-large', 'image');
});

t.test('ADVSERVE_MAX_PIXELS below the attack limit: the attack routes give its 413', async (t) => {
  const { server } = await setup(t, { config: { maxPixels: 1000 } });
  const body = isProblem(t, await post(server, '/v1/attack/targeted?target=0', await pngWithHeaderSize(40, 30)), 413, 'image-too-large', 'image');
  t.match(body.detail, /the limit is 1000/);
});

t.test('in-flight pixel budget: an attack that would pass it gets 429 with Retry-After; one that fits runs alongside', async (t) => {
  const { server, engine } = await setup(t, {
    config: { maxAttackPixels: 100, maxInflightPixels: 150 },
    engine: { attackDelayMs: 4000, admission: { maxJobs: 64, maxInflightPixels: 150 } },
  });
  const admission = engine.admission!;
  const first = post(server, '/v1/attack/targeted?target=0', await makePng(10, 10)).then((r) => r);
  await until(() => admission.pixels === 100, 'the first attack holds 100 pixels');

  const over = await post(server, '/v1/attack/targeted?target=0', await makePng(10, 6));
  const body = isProblem(t, over, 429, 'queue-full');
  t.equal(over.headers['retry-after'], '10');
  t.match(body.detail, /Attacks on 100 pixels are running; this one \(60 pixels\) would pass the in-flight budget of 150 pixels \(ADVSERVE_MAX_INFLIGHT_PIXELS\)/);

  const fits = await post(server, '/v1/attack/untargeted', await makePng(5, 10));
  t.equal(fits.status, 200, '50 more pixels fit');
  t.equal((await first).status, 200);
  t.equal(admission.pixels, 0, 'every pixel returned');
  t.equal(admission.jobs, 0, 'every slot returned');
  engine.attackDelayMs = 0;
  t.equal((await post(server, '/v1/attack/targeted?target=0', await makePng(10, 6))).status, 200, 'the refused attack fits now');
  t.equal(engine.attackCalls.length, 3);
});

t.test('ADVSERVE_MAX_JOBS reached: 429 before the body is read or decoded, and the connection stays usable', async (t) => {
  const { server, engine } = await setup(t, { config: { maxJobs: 1 }, engine: { attackDelayMs: 5000, admission: { maxJobs: 1, maxInflightPixels: 1e9 } } });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.listen(0, '127.0.0.1', resolve)));
  const running = post(server, '/v1/attack/targeted?target=0', await makePng(8, 8)).then((r) => r);
  await until(() => engine.admission!.jobs === 1, 'the long attack is admitted');

  // Undecodable bodies: had they been decoded, the answers would be 415.
  isProblem(t, await post(server, '/v1/attack/targeted?target=0', undecodable(8 * 1024 * 1024)), 429, 'queue-full');
  isProblem(t, await request(server).post('/v1/classify').attach('image', undecodable(1024 * 1024), 'x.png'), 429, 'queue-full');

  // One keep-alive socket: the refused request and the next one both get their answers on it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const { port } = server.address() as AddressInfo;
  const send = (path: string, body?: Buffer) =>
    new Promise<{ status: number; socket: net.Socket }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', agent, headers: body ? { 'Content-Type': 'image/png', 'Content-Length': body.length } : {} }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, socket: req.socket as net.Socket }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const refused = await send('/v1/attack/targeted?target=0', undecodable(2 * 1024 * 1024));
  t.equal(refused.status, 429);
  const next = await send('/healthz');
  t.equal(next.status, 200, 'the server answers the next request');

  t.equal((await running).status, 200, 'the admitted attack finishes');
  t.equal(engine.attackCalls.length, 1, 'no refused request reached the engine');
  t.equal(engine.admission!.jobs, 0);
  isProblem(t, await post(server, '/v1/attack/targeted?target=0', undecodable(1000)), 415, 'unsupported-media-type', 'image');
});

t.test('per-key job quota: 429 rate-limited before the body is decoded', async (t) => {
  const { server } = await setup(t, { config: { keyMaxJobs: 1 }, engine: { attackDelayMs: 4000 } });
  const running = post(server, '/v1/attack/targeted?target=0', await makePng(8, 8)).then((r) => r);
  let refused;
  for (let i = 0; i < 40; i++) {
    refused = await post(server, '/v1/attack/targeted?target=0', undecodable(4 * 1024 * 1024));
    if (refused.status !== 415) break; // the first attack may not have started yet
    await new Promise((r) => setTimeout(r, 25));
  }
  isProblem(t, refused!, 429, 'rate-limited');
  t.equal((await running).status, 200);
});

t.test('slots and pixels always come back: refused, failed, aborted mid-attack and mid-upload requests', async (t) => {
  const { server, engine } = await setup(t, { config: { maxJobs: 2 }, engine: { attackDelayMs: 30_000, admission: { maxJobs: 2, maxInflightPixels: 1e9 } } });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.listen(0, '127.0.0.1', resolve)));
  const { port } = server.address() as AddressInfo;
  const admission = engine.admission!;
  const png = await makePng(8, 8);

  for (let round = 0; round < 3; round++) {
    await until(() => admission.jobs === 0 && admission.pixels === 0, `every slot is back before round ${round}`);
    // Two admitted attacks whose clients leave mid-attack.
    const leaving = [0, 1].map(() => {
      const req = http.request({ host: '127.0.0.1', port, path: '/v1/attack/targeted?target=0', method: 'POST', headers: { 'Content-Type': 'image/png' } });
      req.on('error', () => {});
      req.end(png);
      return req;
    });
    await until(() => admission.jobs === 2 && admission.pixels === 128, 'both attacks admitted');
    for (const req of leaving) req.destroy();
    // Refused while they wind down, or admitted and failing: either way nothing may stick.
    const others = await Promise.all([
      post(server, '/v1/attack/targeted?target=0', undecodable(1000)),
      post(server, '/v1/classify', undecodable(1000)),
      post(server, '/v1/attack/targeted?target=nope', png),
    ]);
    for (const r of others) t.ok([400, 415, 429].includes(r.status), `refused or failed: ${r.status}`);
    // A client that sends headers and part of a large body, then hangs up.
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`POST /v1/attack/targeted?target=0 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000000\r\n\r\n`);
        socket.write(Buffer.alloc(1000));
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
      socket.on('error', () => resolve());
    });
  }
  await until(() => admission.jobs === 0 && admission.pixels === 0, 'every slot is back');
  t.equal(admission.jobs, 0);
  t.equal(admission.pixels, 0);
  engine.attackDelayMs = 0;
  const res = await post(server, '/v1/attack/targeted?target=0', png);
  t.equal(res.status, 200, 'the service still admits work');
});
