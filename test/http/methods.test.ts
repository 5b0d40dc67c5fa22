import t from 'tap';
import request from 'supertest';
import { ATTACK_METHODS } from '../../src/engine/types';
import { isProblem, setup } from './helpers';

t.test('GET /v1/methods lists every method with its paper and options, before the models are ready', async (t) => {
  const { server } = await setup(t, { engine: { ready: false } });
  const res = await request(server).get('/v1/methods');
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /application\/json/);
  t.same(res.body.methods.map((m: { id: string }) => m.id), [...ATTACK_METHODS]);
  const mi = res.body.methods.find((m: { id: string }) => m.id === 'mi-fgsm');
  t.match(mi, { title: 'MI-FGSM', paper: { year: 2018, url: 'https://arxiv.org/abs/1710.06081' }, modifiers: ['di', 'ti', 'loss'] });
  t.match(mi.options, { type: 'object', properties: { mu: { type: 'number', default: 1, minimum: 0, maximum: 10 }, ti: { default: 0 }, loss: { enum: ['ce', 'logit', 'margin'] } } });
  t.notOk('default' in mi.options.properties.alpha, 'mi-fgsm computes its alpha (eps / iterations): no fixed default');
  const ifgsm = res.body.methods.find((m: { id: string }) => m.id === 'ifgsm');
  t.equal(ifgsm.options.properties.alpha.default, 1);
  isProblem(t, await request(server).post('/v1/methods'), 405, 'method-not-allowed');
});
