import t from 'tap';
import request from 'supertest';
import { makePng } from '../images/fixtures';
import { isProblem, setup } from './helpers';

t.test('classify: top-k per model and for the ensemble', async (t) => {
  const { server, engine } = await setup(t);
  let res = await request(server).post('/v1/classify').set('Content-Type', 'image/png').send(await makePng(8, 8));
  t.equal(res.status, 200, res.text);
  t.match(res.headers['content-type'], /^application\/json/);
  t.equal(res.body.models.length, 2);
  t.equal(res.body.models[0].top.length, 5, 'top_k defaults to 5');
  t.match(res.body.models[0].top[0], { index: Number, label: String, prob: Number });
  t.equal(res.body.ensemble.top.length, 5);
  t.same(engine.classifyCalls[0].opts, { topK: 5 });

  res = await request(server).post('/v1/classify').field('top_k', '2').field('models', 'fake_b').attach('image', await makePng(8, 8), 'x.png');
  t.equal(res.status, 200, res.text);
  t.equal(res.body.models.length, 1);
  t.equal(res.body.models[0].id, 'fake_b');
  t.equal(res.body.models[0].top.length, 2);
  t.same(engine.classifyCalls[1].opts, { topK: 2, models: ['fake_b'] });
});

t.test('classify errors', async (t) => {
  const { server, engine } = await setup(t);
  const img = await makePng(8, 8);
  const post = (qs: string) => request(server).post(`/v1/classify?${qs}`).set('Content-Type', 'image/png').send(img);
  isProblem(t, await post('top_k=0'), 400, 'invalid-parameter', 'top_k');
  isProblem(t, await post('top_k=6'), 400, 'invalid-parameter', 'top_k');
  isProblem(t, await post('top_k=two'), 400, 'invalid-parameter', 'top_k');
  isProblem(t, await post('models=nope'), 404, 'unknown-model', 'models');
  isProblem(t, await request(server).post('/v1/classify'), 400, 'missing-image');
  isProblem(t, await request(server).post('/v1/classify').set('Content-Type', 'image/webp').send(Buffer.from('RIFF....WEBPVP8 junk')), 415, 'unsupported-media-type');
  engine.ready = false;
  isProblem(t, await post(''), 503, 'not-ready');
  t.equal(engine.classifyCalls.length, 0);
});
