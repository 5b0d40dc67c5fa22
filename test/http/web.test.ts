/** The web page's files at / (src/routes/web.ts): served with a CSP; the API's 404s unchanged. */
import t from 'tap';
import request from 'supertest';
import { CONTENT_SECURITY_POLICY } from '../../src/routes/web';
import { isProblem, setup } from './helpers';

t.test('GET / is the page, with its scripts and styles from this origin only', async (t) => {
  const { server } = await setup(t);
  const res = await request(server).get('/');
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /^text\/html/);
  t.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  t.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/, 'no inline scripts allowed');
  t.match(res.text, /<script type="module" src="app.js"><\/script>/);
  t.notMatch(res.text, /<script>[^<]/, 'no inline script in the page');
  for (const id of ['image-input', 'models', 'mode', 'target', 'eps', 'method', 'run', 'progress', 'result-original', 'result-adversarial', 'result-perturbation', 'predictions-before', 'predictions-after', 'error']) {
    t.match(res.text, `data-testid="${id}"`, `data-testid ${id}`);
  }
  for (const [path, type] of [['/app.js', /javascript/], ['/api.js', /javascript/], ['/style.css', /^text\/css/]] as const) {
    const file = await request(server).get(path);
    t.equal(file.status, 200, path);
    t.match(file.headers['content-type'], type, `${path} type`);
  }
});

t.test('unknown paths and wrong methods keep the API answers', async (t) => {
  const { server } = await setup(t);
  isProblem(t, await request(server).get('/nope.html'), 404, 'not-found');
  isProblem(t, await request(server).get('/v1/nothing'), 404, 'not-found');
  const res = await request(server).post('/');
  isProblem(t, res, 405, 'method-not-allowed');
  t.match(res.headers.allow, /GET/);
});
