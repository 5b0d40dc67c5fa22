import t from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { ClientClosedError } from '../../src/http/abort';
import { jpegWithHeaderSize, makePng, pngWithHeaderSize } from '../images/fixtures';
import { isProblem, setup } from './helpers';

const png = (w = 6, h = 4, alpha = false) => makePng(w, h, { alpha });

t.test('targeted, raw PNG body: PNG out with the same size, alpha passed through, result headers', async (t) => {
  const { server, engine } = await setup(t);
  const input = await png(6, 4, true);
  const res = await request(server)
    .post('/v1/attack/targeted?target=porn')
    .set('Content-Type', 'image/png')
    .send(input);
  t.equal(res.status, 200);
  t.equal(res.headers['content-type'], 'image/png');
  t.equal(res.headers['x-advserve-success'], 'true');
  t.equal(res.headers['x-advserve-target'], 'Porn');
  t.equal(res.headers['x-advserve-linf'], '1');
  t.equal(res.headers['x-advserve-iterations'], '20');
  t.match(res.headers['x-advserve-elapsed-ms'], /^\d+$/);
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/);

  const out = await sharp(res.body).raw().toBuffer({ resolveWithObject: true });
  const inp = await sharp(input).raw().toBuffer({ resolveWithObject: true });
  t.equal(out.info.width, 6);
  t.equal(out.info.height, 4);
  t.equal(out.info.channels, 4, 'alpha kept');
  for (let i = 0; i < 24; i++) t.equal(out.data[i * 4 + 3], inp.data[i * 4 + 3], `alpha ${i} unchanged`);
  t.equal(Math.abs(out.data[0] - inp.data[0]) <= 1, true, 'rgb moved by at most 1');

  const p = engine.attackCalls[0].params;
  t.match(p, { targeted: true, target: 3, method: 'mng-l1', eps: 16, iterations: 20 });
  t.equal(p.models, undefined, 'all models by default');
  t.ok(p.signal instanceof AbortSignal, 'an abort signal is passed');
});

t.test('targeted, multipart upload with parameters as form fields', async (t) => {
  const { server, engine } = await setup(t);
  const res = await request(server)
    .post('/v1/attack/targeted')
    .field('target', '1')
    .field('eps', '8')
    .field('iterations', '5')
    .field('method', 'ifgsm')
    .field('models', 'fake_b')
    .field('alpha', '0.5')
    .field('seed', '42')
    .attach('image', await png(), { filename: 'x.png', contentType: 'image/png' });
  t.equal(res.status, 200, res.text);
  t.equal(res.headers['x-advserve-target'], 'Hentai');
  t.match(engine.attackCalls[0].params, { target: 1, eps: 8, iterations: 5, method: 'ifgsm', models: ['fake_b'], alpha: 0.5, seed: 42 });
});

t.test('transferability options: mi-fgsm with di and ti, from the query and from form fields', async (t) => {
  const { server, engine } = await setup(t);
  let res = await request(server)
    .post('/v1/attack/targeted?target=0&method=mi-fgsm&di=true&ti=7&mu=0.9')
    .set('Content-Type', 'image/png')
    .send(await png());
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[0].params, { method: 'mi-fgsm', di: true, ti: 7, mu: 0.9 });
  t.equal(engine.attackCalls[0].params.loss, 'ce', 'no loss given: the schema default');
  res = await request(server).post('/v1/attack/untargeted').field('di', 'false').field('ti', '15').attach('image', await png(), 'x.png');
  t.equal(res.status, 200, res.text);
  res = await request(server).post('/v1/attack/targeted?target=0&method=mi-fgsm&alpha=2').field('loss', 'logit').attach('image', await png(), 'x.png');
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[2].params, { method: 'mi-fgsm', alpha: 2, loss: 'logit' }, 'loss from a form field');
  t.match(engine.attackCalls[1].params, { di: false, ti: 15 });
  isProblem(t, await request(server).post('/v1/attack/targeted?target=0&ti=99').set('Content-Type', 'image/png').send(await png()), 400, 'invalid-parameter', 'ti');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=0&di=maybe').set('Content-Type', 'image/png').send(await png()), 400, 'invalid-parameter', 'di');
});

t.test('query parameters, and form fields overriding them', async (t) => {
  const { server, engine } = await setup(t);
  let res = await request(server)
    .post('/v1/attack/targeted?target=SEXY&eps=2.5&iterations=3&method=fgsm&models=fake_a,fake_b,fake_a&seed=7')
    .set('Content-Type', 'image/png')
    .send(await png());
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[0].params, { target: 4, eps: 2.5, iterations: 3, method: 'fgsm', models: ['fake_a', 'fake_b'], seed: 7 });

  res = await request(server)
    .post('/v1/attack/targeted?target=0&eps=4')
    .field('eps', '9')
    .attach('image', await png(), 'x.png');
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[1].params, { target: 0, eps: 9 });
});

t.test('Accept: application/json gives the JSON report with a base64 PNG', async (t) => {
  const { server } = await setup(t);
  const res = await request(server)
    .post('/v1/attack/targeted?target=Drawing')
    .set('Accept', 'application/json')
    .set('Content-Type', 'image/png')
    .send(await png(5, 3, true));
  t.equal(res.status, 200, res.text);
  t.match(res.headers['content-type'], /^application\/json/);
  const b = res.body;
  t.match(b, {
    method: 'mng-l1',
    eps: 16,
    iterations: 20,
    targeted: true,
    target: { index: 0, label: 'Drawing' },
    success: true,
    linf: 1,
    models: [{ id: 'fake_a', before: { label: String, prob: Number }, after: { label: 'Drawing', prob: Number, targetProb: Number } }, { id: 'fake_b' }],
    ensemble: { before: { label: String }, after: { label: 'Drawing' } },
  });
  t.type(b.l2, 'number');
  t.type(b.elapsedMs, 'number');
  const meta = await sharp(Buffer.from(b.image, 'base64')).metadata();
  t.match(meta, { format: 'png', width: 5, height: 3, hasAlpha: true });
  t.equal(res.headers['x-advserve-success'], 'true', 'headers in JSON mode too');
});

t.test('untargeted: target_selection and label', async (t) => {
  const { server, engine } = await setup(t);
  let res = await request(server).post('/v1/attack/untargeted').set('Content-Type', 'image/png').send(await png());
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[0].params, { targeted: false, targetSelection: 'least-likely' });
  t.equal(engine.attackCalls[0].params.label, undefined);

  res = await request(server)
    .post('/v1/attack/untargeted?target_selection=max-loss&label=neutral')
    .set('Content-Type', 'image/png')
    .send(await png());
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[1].params, { targeted: false, targetSelection: 'max-loss', label: 2 });

  res = await request(server).post('/v1/attack/untargeted').field('target_selection', 'max-loss').field('label', '4').attach('image', await png(), 'a.png');
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[2].params, { targetSelection: 'max-loss', label: 4 });

  isProblem(t, await request(server).post('/v1/attack/untargeted?label=Neutral').set('Content-Type', 'image/png').send(await png()), 400, 'invalid-parameter', 'label');
  isProblem(t, await request(server).post('/v1/attack/untargeted?target_selection=max-loss&label=Dragon').set('Content-Type', 'image/png').send(await png()), 400, 'unknown-label', 'label');
  isProblem(t, await request(server).post('/v1/attack/untargeted?target_selection=best').set('Content-Type', 'image/png').send(await png()), 400, 'invalid-parameter', 'target_selection');
});

t.test('400: parameters', async (t) => {
  const { server, engine } = await setup(t);
  const img = await png();
  const post = (qs: string) => request(server).post(`/v1/attack/targeted?${qs}`).set('Content-Type', 'image/png').send(img);
  isProblem(t, await post('target=1&eps=0'), 400, 'invalid-parameter', 'eps');
  isProblem(t, await post('target=1&eps=65'), 400, 'invalid-parameter', 'eps');
  isProblem(t, await post('target=1&eps=abc'), 400, 'invalid-parameter', 'eps');
  isProblem(t, await post('target=1&iterations=0'), 400, 'invalid-parameter', 'iterations');
  isProblem(t, await post('target=1&iterations=1001'), 400, 'invalid-parameter', 'iterations');
  isProblem(t, await post('target=1&iterations=2.5'), 400, 'invalid-parameter', 'iterations');
  isProblem(t, await post('target=1&method=cw'), 400, 'invalid-parameter', 'method');
  isProblem(t, await post('target=1&alpha=0'), 400, 'invalid-parameter', 'alpha');
  isProblem(t, await post('target=1&loss=hinge'), 400, 'invalid-parameter', 'loss');
  isProblem(t, await post('target=1&seed=-1'), 400, 'invalid-parameter', 'seed');
  isProblem(t, await post('eps=4'), 400, 'invalid-parameter', 'target');
  isProblem(t, await post('target=5'), 400, 'invalid-parameter', 'target');
  isProblem(t, await post('target=-1'), 400, 'invalid-parameter', 'target');
  const unknown = isProblem(t, await post('target=Dragon'), 400, 'unknown-label', 'target');
  t.match(unknown.detail, /Drawing, Hentai, Neutral, Porn, Sexy/);
  isProblem(t, await post('target=1&models=,'), 400, 'invalid-parameter', 'models');
  t.equal(engine.attackCalls.length, 0, 'the engine never saw a bad request');
});

t.test('400: bad form fields get the same checks as the query string', async (t) => {
  const { server } = await setup(t);
  const img = await png();
  const form = () => request(server).post('/v1/attack/targeted').attach('image', img, 'x.png');
  isProblem(t, await form().field('target', '1').field('eps', '0'), 400, 'invalid-parameter', 'eps');
  isProblem(t, await form().field('target', '1').field('iterations', 'many'), 400, 'invalid-parameter', 'iterations');
  isProblem(t, await form().field('target', '1').field('method', 'x'), 400, 'invalid-parameter', 'method');
  isProblem(t, await form().field('eps', '3'), 400, 'invalid-parameter', 'target');
  isProblem(t, await form().field('target', 'nope'), 400, 'unknown-label', 'target');
  isProblem(t, await form().field('target', '1').field('target', '2'), 400, 'invalid-parameter', 'target');
  isProblem(t, await form().field('target', 'x'.repeat(2000)), 400, 'invalid-parameter', 'target');
});

t.test('400: no image', async (t) => {
  const { server } = await setup(t);
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1'), 400, 'missing-image', 'image');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(Buffer.alloc(0)), 400, 'missing-image');
  isProblem(t, await request(server).post('/v1/attack/targeted').field('target', '1'), 400, 'missing-image');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').attach('file', await png(), 'x.png'), 400, 'invalid-parameter', 'file');
});

t.test('404: unknown model', async (t) => {
  const { server } = await setup(t);
  const res = await request(server).post('/v1/attack/targeted?target=1&models=fake_a,resnet').set('Content-Type', 'image/png').send(await png());
  const body = isProblem(t, res, 404, 'unknown-model', 'models');
  t.match(body.detail, /resnet/);
  isProblem(t, await request(server).post('/v1/attack/untargeted?models=resnet').set('Content-Type', 'image/png').send(await png()), 404, 'unknown-model');
});

t.test('413: body over the limit (raw and multipart) and image over the pixel limit', async (t) => {
  const { server } = await setup(t, { config: { maxBodyBytes: 2048, maxPixels: 10_000 } });
  const big = Buffer.alloc(5000, 7);
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(big), 413, 'payload-too-large');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').attach('image', big, 'big.png'), 413, 'payload-too-large');
  const { pngWithHeaderSize } = await import('../images/fixtures');
  const huge = await pngWithHeaderSize(20000, 20000);
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(huge), 413, 'image-too-large', 'image');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').attach('image', huge, 'huge.png'), 413, 'image-too-large', 'image');
  isProblem(t, await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(await png(101, 100)), 413, 'image-too-large');
});

t.test('415: not an image, truncated, garbage, wrong content type', async (t) => {
  const { server } = await setup(t);
  const good = await png(64, 48);
  const text = Buffer.from('hello, I am a text file\n');
  const post = () => request(server).post('/v1/attack/targeted?target=1');
  isProblem(t, await post().attach('image', text, { filename: 'photo.png', contentType: 'image/png' }), 415, 'unsupported-media-type', 'image');
  isProblem(t, await post().set('Content-Type', 'image/png').send(text), 415, 'unsupported-media-type');
  isProblem(t, await post().set('Content-Type', 'image/png').send(good.subarray(0, Math.floor(good.length * 0.6))), 415, 'unsupported-media-type');
  isProblem(t, await post().set('Content-Type', 'image/jpeg').send(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5])), 415, 'unsupported-media-type');
  isProblem(t, await post().set('Content-Type', 'text/plain').send('just text'), 415, 'unsupported-media-type');
  isProblem(t, await post().set('Content-Type', 'application/json').send('{"image":"x"}'), 415, 'unsupported-media-type');
  isProblem(t, await post().set('Content-Type', 'image/gif').send(good), 415, 'unsupported-media-type');
  isProblem(t, await post().set('Content-Type', 'application/octet-stream').send(good), 415, 'unsupported-media-type');
});

t.test('503 while the engine is not ready, with Retry-After', async (t) => {
  const { server, engine } = await setup(t, { engine: { ready: false } });
  let res = await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(await png());
  isProblem(t, res, 503, 'not-ready');
  t.equal(res.headers['retry-after'], '5');
  res = await request(server).post('/v1/attack/untargeted').attach('image', await png(), 'x.png');
  isProblem(t, res, 503, 'not-ready');
  engine.ready = true;
  res = await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(await png());
  t.equal(res.status, 200, 'serves once ready');
});

t.test('504 when the attack runs past the request deadline; the engine sees the abort', async (t) => {
  const { server, engine } = await setup(t, { config: { requestTimeoutMs: 50 }, engine: { attackDelayMs: 5000 } });
  const started = Date.now();
  const res = await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/png').send(await png());
  isProblem(t, res, 504, 'deadline-exceeded');
  t.ok(Date.now() - started < 3000, 'answered at the deadline, not after the attack');
  t.equal(engine.attackCalls[0].params.signal?.aborted, true);
});

t.test('a client that disconnects aborts the attack', async (t) => {
  const { app, engine } = await setup(t, { engine: { attackDelayMs: 10_000 } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const body = await png();
  const http = await import('node:http');
  await new Promise<void>((resolve) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/v1/attack/targeted?target=1', headers: { 'content-type': 'image/png', 'content-length': body.length } });
    req.on('error', () => resolve());
    req.end(body);
    const poll = setInterval(() => {
      if (engine.attackCalls.length > 0) {
        clearInterval(poll);
        req.destroy();
        resolve();
      }
    }, 5);
  });
  const signal = engine.attackCalls[0].params.signal!;
  for (let i = 0; i < 100 && !signal.aborted; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(signal.aborted, true, 'signal aborted');
  t.ok(signal.reason instanceof ClientClosedError, 'because the client left');
  const res = await request(app.server).get('/healthz');
  t.equal(res.status, 200, 'server still fine');
});

t.test('targets by synonym and by class id (ImageNet-style labels)', async (t) => {
  const { server, engine } = await setup(t, { engine: { labels: ['tench, Tinca tinca', 'tabby, tabby cat', 'tiger cat'], classIds: ['n01440764', 'n02123045', 'n02123159'] } });
  const img = await png();
  const post = (q: string) => request(server).post(`/v1/attack/targeted?${q}`).set('Content-Type', 'image/png').set('Accept', 'application/json').send(img);
  let res = await request(server).post('/v1/attack/targeted?target=Tabby%20Cat').set('Content-Type', 'image/png').set('Accept', 'application/json').send(img);
  t.equal(res.status, 200, res.text);
  t.same(res.body.target, { index: 1, label: 'tabby, tabby cat' });
  res = await request(server).post('/v1/attack/targeted').field('target', 'n02123159').attach('image', img, 'x.png');
  t.equal(res.status, 200, res.text);
  t.same(engine.attackCalls.map((c) => c.params.target), [1, 2]);
  const unknown = isProblem(t, await post('target=tabbby'), 400, 'unknown-label', 'target');
  t.match(unknown.detail, /Close matches: tabby, tabby cat \(1, n02123045\)/);
});

t.test('EXIF orientation 6 JPEG: the attack sees the upright image and returns it upright (width and height swapped)', async (t) => {
  const { server, engine } = await setup(t);
  const jpeg = await sharp(await png(8, 4)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const res = await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', 'image/jpeg').send(jpeg);
  t.equal(res.status, 200, res.text);
  t.same([engine.attackCalls[0].image.width, engine.attackCalls[0].image.height], [4, 8], 'decoded upright');
  const meta = await sharp(res.body as Buffer).metadata();
  t.same([meta.width, meta.height], [4, 8], 'output PNG upright');
  t.equal(meta.orientation, undefined, 'no orientation left on the output');
});

t.test('413 image-too-large for a JPEG or PNG whose header declares 65535x65535', async (t) => {
  const { server, engine } = await setup(t);
  for (const [type, body] of [['image/jpeg', await jpegWithHeaderSize(65535, 65535)], ['image/png', await pngWithHeaderSize(65535, 65535)]] as const) {
    isProblem(t, await request(server).post('/v1/attack/targeted?target=1').set('Content-Type', type).send(body), 413, 'image-too-large', 'image');
    isProblem(t, await request(server).post('/v1/classify').attach('image', body, 'big'), 413, 'image-too-large', 'image');
  }
  t.equal(engine.attackCalls.length + engine.classifyCalls.length, 0);
});
