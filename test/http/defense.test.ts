/** POST /v1/defense/evaluate on the fake engine: counts on a fixed case, seeds, and every error. */
import t from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RgbImage } from '../../src/images/types';
import { isProblem, setup } from './helpers';

/** A w x h PNG of one colour. */
const solid = (r: number, g = 50, b = 50, w = 4, h = 4) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } }).png().toBuffer();

/** fake_a says Porn (3) when the red value is at least 100, else Drawing (0); fake_b always says Neutral (2). */
const predict = (image: RgbImage, model: string) => (model === 'fake_a' ? (image.rgb[0] >= 100 ? 3 : 0) : 2);

t.test('counts hits and misses per defense', async (t) => {
  const { server, engine } = await setup(t, { engine: { predict } });
  const res = await request(server)
    .post('/v1/defense/evaluate')
    .field('labels', 'Neutral,2,Porn')
    .field('targets', 'Drawing,porn,0')
    .field('defenses', 'fake_a,bits1+fake_a,fake_b')
    .attach('images', await solid(10), 'a.png')
    .attach('images', await solid(200), 'b.png')
    .attach('image', await solid(100), 'c.png');
  t.equal(res.status, 200, res.text);
  t.match(res.headers['content-type'], /^application\/json/);
  const by = Object.fromEntries(res.body.defenses.map((d: { defense: string }) => [d.defense, d]));
  t.same(Object.keys(by), ['fake_a', 'bits1+fake_a', 'fake_b'], 'in the order asked');
  // fake_a: Drawing, Porn, Porn against labels Neutral, Neutral, Porn and targets Drawing, Porn, Drawing
  t.match(by.fake_a, { n: 3, hits: 2, misses: 2 });
  t.equal(by.fake_a.hitRate, 2 / 3);
  t.equal(by.fake_a.missRate, 2 / 3);
  t.same(by.fake_a.predictions.map((p: { image: number; name: string; label: string; index: number }) => [p.image, p.name, p.label, p.index]), [
    [0, 'a.png', 'Drawing', 0],
    [1, 'b.png', 'Porn', 3],
    [2, 'c.png', 'Porn', 3],
  ]);
  t.equal(by.fake_a.predictions[0].prob, 0.6);
  // The fake gives the predicted class 0.6 and each other class 0.1: hit, hit, miss.
  t.same(by.fake_a.predictions.map((p: { targetProb: number }) => Math.round(p.targetProb * 10) / 10), [0.6, 0.6, 0.1], "each prediction carries the defense's probability of the target");
  // one bit: 100 -> 0, so the third image turns Drawing: a miss and a hit more
  t.match(by['bits1+fake_a'], { n: 3, hits: 3, misses: 3, hitRate: 1, missRate: 1 });
  t.match(by.fake_b, { n: 3, hits: 0, misses: 1, hitRate: 0 });
  t.equal(engine.classifyCalls.length, 9, 'one classification per image and defense');
  t.ok(engine.classifyCalls.every((c) => c.opts.topK === 5 && c.opts.models?.length === 1), 'each call asks one model for all 5 classes');
  const squeezed = engine.classifyCalls.filter((c) => c.opts.models![0] === 'fake_a').slice(3, 6);
  t.same(squeezed.map((c) => c.image.rgb[0]), [0, 255, 0], 'bits1 ran before fake_a');
});

t.test('untargeted: no targets, hits are null; defaults to every loaded model; raw single-image body', async (t) => {
  const { server } = await setup(t, { engine: { predict } });
  let res = await request(server).post('/v1/defense/evaluate?labels=Drawing,Drawing').attach('images', await solid(10)).attach('images', await solid(150));
  t.equal(res.status, 200, res.text);
  t.same(res.body.defenses.map((d: { defense: string }) => d.defense), ['fake_a', 'fake_b']);
  t.match(res.body.defenses[0], { n: 2, hits: null, hitRate: null, misses: 1, missRate: 0.5 });
  t.match(res.body.defenses[1], { n: 2, hits: null, misses: 2, missRate: 1 });
  t.notOk('name' in res.body.defenses[0].predictions[0] && res.body.defenses[0].predictions[0].name !== 'blob', 'no file name unless sent');
  t.notOk('targetProb' in res.body.defenses[0].predictions[0], 'no target probability without targets');

  res = await request(server).post('/v1/defense/evaluate?labels=Porn&targets=Neutral&defenses=fake_b').set('Content-Type', 'image/png').send(await solid(10));
  t.equal(res.status, 200, res.text);
  t.match(res.body.defenses, [{ defense: 'fake_b', n: 1, hits: 1, misses: 1 }]);
});

t.test('a seed makes resize-pad reproducible', async (t) => {
  const { server, engine } = await setup(t, { engine: { predict } });
  const img = await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 120, g: 7, b: 9 } } }).png().toBuffer();
  const run = async (seed: number) => {
    const before = engine.classifyCalls.length;
    const res = await request(server)
      .post(`/v1/defense/evaluate?seed=${seed}`)
      .field('labels', '0,0,0,0')
      .field('defenses', 'resize-pad+fake_a')
      .attach('images', img)
      .attach('images', img)
      .attach('images', img)
      .attach('images', img);
    t.equal(res.status, 200, res.text);
    return engine.classifyCalls.slice(before).map((c) => `${c.image.width}x${c.image.height}:${Buffer.from(c.image.rgb).toString('base64')}`);
  };
  const a = await run(3);
  const b = await run(3);
  const c = await run(4);
  t.equal(a.length, 4);
  t.ok(a.every((s) => s.startsWith('248x248:')), 'padded to 248 for a 224 model');
  t.same(a, b, 'same seed, same transformed inputs');
  t.notSame(a, c, 'another seed, other draws');
  t.ok(new Set(a).size > 1, 'images in one request get different draws');
});

t.test('errors are problem+json', async (t) => {
  const { server, engine } = await setup(t, { config: { maxFiles: 2 }, engine: { predict } });
  const img = await solid(10);
  const post = (qs = '') => request(server).post(`/v1/defense/evaluate${qs}`);
  const two = (qs: string) => post(qs).attach('images', img).attach('images', img);
  isProblem(t, await two(''), 400, 'invalid-parameter', 'labels');
  isProblem(t, await two('?labels=0'), 400, 'invalid-parameter', 'labels');
  isProblem(t, await two('?labels=0,1,2'), 400, 'invalid-parameter', 'labels');
  isProblem(t, await two('?labels=0,'), 400, 'invalid-parameter', 'labels');
  isProblem(t, await two('?labels=0,Dragon'), 400, 'unknown-label', 'labels');
  isProblem(t, await two('?labels=0,9'), 400, 'invalid-parameter', 'labels');
  isProblem(t, await two('?labels=0,1&targets=1'), 400, 'invalid-parameter', 'targets');
  isProblem(t, await two('?labels=0,1&targets=1,Nope'), 400, 'unknown-label', 'targets');
  isProblem(t, await two('?labels=0,1&defenses=sharpen+fake_a'), 400, 'invalid-parameter', 'defenses');
  isProblem(t, await two('?labels=0,1&defenses=jpeg101+fake_a'), 400, 'invalid-parameter', 'defenses');
  isProblem(t, await two('?labels=0,1&defenses=jpeg75+nope'), 404, 'unknown-model', 'defenses');
  isProblem(t, await two('?labels=0,1&defenses=jpeg75'), 404, 'unknown-model', 'defenses');
  isProblem(t, await two('?labels=0,1&seed=-1'), 400, 'invalid-parameter', 'seed');
  isProblem(t, await post('?labels=0').field('labels', '0'), 400, 'missing-image');
  isProblem(t, await post('?labels=0'), 400, 'missing-image');
  isProblem(t, await post('?labels=0').attach('picture', img), 400, 'invalid-parameter', 'picture');
  isProblem(t, await post('?labels=0,1,2').attach('images', img).attach('images', img).attach('images', img), 413, 'payload-too-large', 'images');
  isProblem(t, await post('?labels=0').attach('images', Buffer.from('not an image'), 'x.png'), 415, 'unsupported-media-type');
  isProblem(t, await two('?labels=0,1').field('labels', '0,1').field('labels', '1,1'), 400, 'invalid-parameter', 'labels');
  t.equal(engine.classifyCalls.length, 0, 'nothing classified');
  engine.ready = false;
  isProblem(t, await two('?labels=0,1'), 503, 'not-ready');
  const res = await request(server).get('/healthz');
  t.equal(res.status, 200, 'still alive');
});

t.test('the total size of the images is limited like any body', async (t) => {
  const { server } = await setup(t, { config: { maxBodyBytes: 4096 } });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.listen(0, '127.0.0.1', () => resolve())));
  const noise = Buffer.alloc(40 * 40 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  const big = await sharp(noise, { raw: { width: 40, height: 40, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
  t.ok(big.length > 4096);
  isProblem(t, await request(server).post('/v1/defense/evaluate?labels=0').attach('images', big), 413, 'payload-too-large');
  // No Content-Length (chunked): the files are counted as they arrive; each is small, together too big.
  const small = await solid(10);
  const B = 'XyZzY';
  const filePart = (body: Buffer) => Buffer.concat([Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`), body, Buffer.from('\r\n')]);
  const { port } = server.address() as AddressInfo;
  const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ port, method: 'POST', path: '/v1/defense/evaluate?labels=0', headers: { 'Content-Type': `multipart/form-data; boundary=${B}` } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const write = (i: number) => {
      if (i === 80 || req.destroyed) return req.end(Buffer.from(`--${B}--\r\n`));
      req.write(filePart(small), () => write(i + 1));
    };
    write(0);
  });
  t.ok(small.length * 80 > 4096);
  t.equal(status.status, 413, status.body);
  t.match(JSON.parse(status.body), { type: /payload-too-large$/ });
});
