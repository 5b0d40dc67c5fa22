/**
 * Parameter names on every route that takes parameters: unknown or repeated ones are a 400
 * naming them (never ignored), from the query string and from multipart form fields; eps < 1 is
 * refused with the reason.
 */
import t from 'tap';
import request from 'supertest';
import { makePng } from '../images/fixtures';
import { isProblem, setup } from './helpers';

const ROUTES = [
  { url: '/v1/attack/targeted', base: 'target=1', rep: 'models' },
  { url: '/v1/attack/untargeted', base: 'method=fgsm', rep: 'models' },
  { url: '/v1/classify', base: 'top_k=2', rep: 'models' },
  { url: '/v1/defense/evaluate', base: 'labels=Neutral', rep: 'defenses' },
];

t.test('unknown query parameters: 400 naming them, on every route, before the engine runs', async (t) => {
  const { server, engine } = await setup(t);
  const img = await makePng(6, 4);
  for (const { url, base } of ROUTES) {
    const res = await request(server).post(`${url}?${base}&epsilon=2`).set('Content-Type', 'image/png').send(img);
    const body = isProblem(t, res, 400, 'invalid-parameter', 'epsilon');
    t.match(body.detail, /Unknown parameter "epsilon" \(query string\); this route takes: /, url);
    const two = isProblem(t, await request(server).post(`${url}?${base}&foo=1&bar=2`).set('Content-Type', 'image/png').send(img), 400, 'invalid-parameter', 'foo');
    t.match(two.detail, /Unknown parameters "foo", "bar"/, `${url}: every unknown name`);
  }
  t.equal(engine.attackCalls.length + engine.classifyCalls.length, 0, 'the engine never saw them');
});

t.test('repeated query parameters: 400 saying so (not "must be string")', async (t) => {
  const { server } = await setup(t);
  const img = await makePng(6, 4);
  for (const { url, base, rep } of ROUTES) {
    const res = await request(server).post(`${url}?${base}&${rep}=fake_a&${rep}=fake_b`).set('Content-Type', 'image/png').send(img);
    const body = isProblem(t, res, 400, 'invalid-parameter', rep);
    t.match(body.detail, new RegExp(`"${rep}" given more than once`), url);
    t.notMatch(body.detail, /must be/);
  }
});

t.test('unknown and repeated form fields: 400 naming them, on every route', async (t) => {
  const { server, engine } = await setup(t);
  const img = await makePng(6, 4);
  for (const { url, rep } of ROUTES) {
    const field = url === '/v1/defense/evaluate' ? 'images' : 'image';
    let res = await request(server).post(url).field('labels', 'Neutral').field('target', '1').field('epsilon', '2').attach(field, img, 'x.png');
    // labels is unknown to the attack routes and classify, target to classify and evaluate: the first unknown one is named
    const body = isProblem(t, res, 400, 'invalid-parameter');
    t.match(body.detail, /Unknown parameters? .*"epsilon".* \(form field\)/, url);
    res = await request(server).post(url).field(rep, 'fake_a').field(rep, 'fake_b').attach(field, img, 'x.png');
    t.match(isProblem(t, res, 400, 'invalid-parameter', rep).detail, /more than once/, url);
  }
  t.equal(engine.attackCalls.length + engine.classifyCalls.length, 0);
});

t.test('known parameters still work, and form fields still override the query string', async (t) => {
  const { server, engine } = await setup(t);
  const res = await request(server).post('/v1/attack/targeted?target=1&eps=4').field('eps', '8').attach('image', await makePng(6, 4), 'x.png');
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls[0].params, { target: 1, eps: 8 });
});

t.test('eps below 1 is refused with the reason; eps = 1 runs', async (t) => {
  const { server, engine } = await setup(t);
  const img = await makePng(6, 4);
  for (const eps of ['0.5', '0.99', '0']) {
    const body = isProblem(t, await request(server).post(`/v1/attack/targeted?target=1&eps=${eps}`).set('Content-Type', 'image/png').send(img), 400, 'invalid-parameter', 'eps');
    t.match(body.detail, /must be >= 1.*rounded to 8 bits.*cannot change a pixel/, `eps=${eps}`);
  }
  const form = await request(server).post('/v1/attack/untargeted').field('eps', '0.5').attach('image', img, 'x.png');
  t.match(isProblem(t, form, 400, 'invalid-parameter', 'eps').detail, /rounded to 8 bits/);
  t.equal(engine.attackCalls.length, 0);
  const ok = await request(server).post('/v1/attack/targeted?target=1&eps=1').set('Content-Type', 'image/png').send(img);
  t.equal(ok.status, 200, ok.text);
  t.equal(engine.attackCalls[0].params.eps, 1);
});
