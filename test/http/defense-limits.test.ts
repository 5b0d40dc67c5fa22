/**
 * POST /v1/defense/evaluate under heavy transforms: chains and work are bounded before any work,
 * the transforms run off the event loop (/healthz keeps answering), and the deadline or a client
 * going away cancels them, after which the next request is served normally.
 */
import t, { type Test } from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config';
import { seededRandom } from '../../src/engine/random';
import type { RgbImage } from '../../src/images/types';
import { isProblem, setup } from './helpers';

/** A w x h PNG of random pixels: the median filter's slowest case (~2 s per megapixel for median5 on 2 cores). */
async function noise(w: number, h: number): Promise<Buffer> {
  const rnd = seededRandom(w * 31 + h);
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rnd() * 256);
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}
const solid = (r: number) => sharp({ create: { width: 4, height: 4, channels: 3, background: { r, g: 50, b: 50 } } }).png().toBuffer();

/** fake_a says Porn (3) when the first red value is at least 100, else Drawing (0). */
const predict = (image: RgbImage, model: string) => (model === 'fake_a' ? (image.rgb[0] >= 100 ? 3 : 0) : 2);

async function listening(t: Test, config: Partial<Config> = {}) {
  const s = await setup(t, { config, engine: { predict } });
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  return { ...s, port: (s.app.server.address() as AddressInfo).port };
}

/** Milliseconds a GET /healthz takes on a fresh connection. */
function healthz(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`healthz ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A small request whose answer is known: bits1 turns red 100 into 0 (Drawing), red 200 into 255 (Porn). */
async function smallRequestWorks(t: Test, server: Parameters<typeof request>[0]) {
  const started = performance.now();
  const res = await request(server)
    .post('/v1/defense/evaluate')
    .field('labels', '0,0')
    .field('defenses', 'bits1+fake_a,median3+fake_a')
    .attach('images', await solid(100), 'a.png')
    .attach('images', await solid(200), 'b.png');
  t.equal(res.status, 200, res.text);
  t.same(
    res.body.defenses.map((d: { defense: string; predictions: { label: string }[] }) => [d.defense, ...d.predictions.map((p) => p.label)]),
    [
      ['bits1+fake_a', 'Drawing', 'Porn'],
      ['median3+fake_a', 'Porn', 'Porn'],
    ],
  );
  return performance.now() - started;
}

t.test('a chain longer than the bound is a 400 naming defenses, before any work', async (t) => {
  const { server, engine } = await setup(t, { config: { defenseMaxTransforms: 3 }, engine: { predict } });
  const img = await solid(10);
  const body = isProblem(t, await request(server).post('/v1/defense/evaluate?labels=0').field('defenses', 'bits3+bits3+bits3+bits3+fake_a').attach('images', img), 400, 'invalid-parameter', 'defenses');
  t.match(body.detail, /chains 4 transforms; at most 3/);
  t.equal(engine.classifyCalls.length, 0, 'nothing classified');
  const ok = await request(server).post('/v1/defense/evaluate?labels=0').field('defenses', 'bits3+bits3+bits3+fake_a').attach('images', img);
  t.equal(ok.status, 200, `three transforms are fine: ${ok.text.slice(0, 200)}`);
});

t.test('a request over the work budget is refused with the numbers, before any transform or classification', async (t) => {
  // median5 on 800x600: ~0.48 Mpx x 2000 units = 960 per image and defense.
  const { server, engine } = await setup(t, { config: { defenseWorkBudget: 1500 }, engine: { predict } });
  const big = await noise(800, 600);
  const started = performance.now();
  const body = isProblem(
    t,
    await request(server).post('/v1/defense/evaluate?labels=0,0').field('defenses', 'fake_b,median5+fake_a').attach('images', big).attach('images', big),
    400,
    'invalid-parameter',
    'defenses',
  );
  const ms = performance.now() - started;
  t.match(body.detail, /estimated 1,920 work units .* on 2 images of 0\.96 megapixels in all; the budget per request is 1,500\. The costliest defense is median5\+fake_a \(1,920\)/);
  t.equal(engine.classifyCalls.length, 0, 'nothing classified, not even the plain defense');
  t.ok(ms < 1500, `refused in ${ms.toFixed(0)} ms (running median5 on both would take ~2 s)`);
  // resize-pad shrinks the image first: the same filter behind it costs ~0.06 Mpx, inside the budget.
  const res = await request(server).post('/v1/defense/evaluate?labels=0,0').field('defenses', 'resize-pad+median5+fake_a').attach('images', big).attach('images', big);
  t.equal(res.status, 200, res.text.slice(0, 300));
});

t.test('/healthz answers promptly while a heavy admitted defense request runs', async (t) => {
  const { port } = await listening(t);
  const big = await noise(1000, 700);
  await healthz(port);
  const started = performance.now();
  let finished = 0;
  const heavy = request(`http://127.0.0.1:${port}`)
    .post('/v1/defense/evaluate?labels=0')
    .field('defenses', 'median5+median5+fake_a')
    .attach('images', big, 'big.png')
    .then((res) => {
      finished = performance.now();
      return res;
    });
  // The gaps between answers: a blocked event loop delays this test's timers as well as /healthz.
  let last = started;
  const gaps: number[] = [];
  while (!finished) {
    await healthz(port);
    gaps.push(performance.now() - last);
    last = performance.now();
    await new Promise((r) => setTimeout(r, 25));
  }
  const res = await heavy;
  t.equal(res.status, 200, res.text.slice(0, 300));
  const took = finished - started;
  const worst = Math.max(...gaps);
  t.ok(took > 1500, `the defense request took ${took.toFixed(0)} ms (long enough to have blocked /healthz)`);
  t.ok(gaps.length >= 10, `${gaps.length} health checks answered meanwhile`);
  t.ok(worst < 1000, `longest wait between two /healthz answers ${worst.toFixed(0)} ms`);
});

t.test('the deadline cancels the transforms with a 504; the next request is served at once and correctly', async (t) => {
  const { server } = await setup(t, { config: { requestTimeoutMs: 1500 }, engine: { predict } });
  const big = await noise(1000, 1000);
  const started = performance.now();
  // ~4 x 2 s of median5 on one thread: far past the deadline.
  isProblem(t, await request(server).post('/v1/defense/evaluate?labels=0').field('defenses', 'median5+median5+median5+median5+fake_a').attach('images', big), 504, 'deadline-exceeded');
  const ms = performance.now() - started;
  t.ok(ms < 3500, `answered after ${ms.toFixed(0)} ms (deadline 1500 ms)`);
  // With the one transform thread still busy, this would wait for the rest of the chain (seconds)
  // and run into its own deadline.
  const next = await smallRequestWorks(t, server);
  t.ok(next < 1500, `the next request took ${next.toFixed(0)} ms`);
  t.equal((await request(server).get('/healthz')).status, 200);
});

t.test('a client going away cancels its transforms', async (t) => {
  const { server, port } = await listening(t);
  const big = await noise(1000, 1000);
  const B = 'XyZzY';
  const body = Buffer.concat([
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="defenses"\r\n\r\nmedian5+median5+median5+median5+fake_a\r\n`),
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="images"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`),
    big,
    Buffer.from(`\r\n--${B}--\r\n`),
  ]);
  const req = httpRequest({ port, host: '127.0.0.1', method: 'POST', path: '/v1/defense/evaluate?labels=0', headers: { 'Content-Type': `multipart/form-data; boundary=${B}`, 'Content-Length': body.length } });
  req.on('error', () => {});
  req.end(body);
  await new Promise((r) => setTimeout(r, 700));
  req.destroy();
  const next = await smallRequestWorks(t, server);
  t.ok(next < 2000, `the next request took ${next.toFixed(0)} ms (the abandoned chain needed ~7 s more)`);
});
