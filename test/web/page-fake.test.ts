/**
 * The web page in a real browser on the fake engine (with live progress): with API keys
 * configured, the attack is refused with the 401 problem shown until the key is saved in the
 * page, then it runs, and the key is still there after a reload (localStorage); and the
 * methods come from GET /v1/methods when the server answers it.
 */
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { newKey, parseKeyFile } from '../../src/keys/file';
import { ProgressEngine } from '../helpers/progress-engine';
import { makePng } from '../images/fixtures';
import { browserMissing, launchChromium, pageProblems } from '../support/browser';

const missing = browserMissing();
if (missing) t.comment(`skipping the page tests: ${missing}`);

/** Serves `app` on a loopback port and opens a fresh Chromium page (not navigated yet), closed with the test. */
async function openPage(t: Test, app: FastifyInstance) {
  t.teardown(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  return { port, page, problems: pageProblems(page) };
}

t.test('the page with API keys', { skip: missing ?? false }, async (t) => {
  const alice = newKey('alice', ['attack']);
  const engine = new ProgressEngine();
  engine.stepMs = 20;
  const app = await buildApp({ engine, config: { ...loadConfig({}), apiKeys: parseKeyFile(alice.line, 'test-keys') }, logger: false });
  const { port, page, problems } = await openPage(t, app);
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  t.equal(await page.locator('[data-testid="method"]').getAttribute('data-source'), 'server', 'the methods come from GET /v1/methods');
  t.match(await page.locator('#method-about').innerText(), /Paper: \S.* \d{4}, ".+", https:\/\//, 'its paper as authors, year, title and link');

  await page.locator('[data-testid="image-input"]').setInputFiles({ name: 'x.png', mimeType: 'image/png', buffer: await makePng(32, 24) });
  await page.locator('[data-testid="target"]').fill('Porn');
  await page.locator('#iterations').fill('5');
  await page.locator('[data-testid="run"]').click();
  const error = page.locator('[data-testid="error"]');
  await error.waitFor({ state: 'visible' });
  t.equal(await error.getAttribute('data-status'), '401');
  t.match(await error.innerText(), /Unauthorized[\s\S]*Bearer/, 'the 401 problem detail is shown');
  t.equal(engine.attackCalls.length, 0, 'nothing ran');

  await page.locator('#api-key').fill(alice.key);
  await page.locator('#save-key').click();
  await page.locator('[data-testid="run"]').click();
  await page.waitForSelector('[data-testid="predictions-after"][data-ensemble-top]');
  t.equal(await error.isHidden(), true, 'the error is gone');
  t.equal(engine.attackCalls.length, 1, 'the attack ran with the key');
  t.equal(await page.locator('[data-testid="progress"]').getAttribute('data-iteration'), '5', 'progress reached the last iteration');

  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  t.equal(await page.locator('#api-key').inputValue(), alice.key, 'the key is kept in the browser');
  t.same(problems, [], 'no script errors or CSP violations');
});

t.test('methods from GET /v1/methods when it answers 200: titles, papers, option inputs, changed options sent', { skip: missing ?? false }, async (t) => {
  const engine = new ProgressEngine();
  const app = await buildApp({ engine, config: loadConfig({}), logger: false });
  const { port, page, problems } = await openPage(t, app);
  // What the attack-definitions branch serves: a list of { id, title, paper, options (JSON schema with defaults) }.
  const methods = [
    { id: 'ifgsm', title: 'Iterative FGSM', paper: 'Kurakin et al. 2017', options: { type: 'object', properties: { alpha: { type: 'number', default: 1, minimum: 0 }, di: { type: 'boolean', default: false } } } },
    { id: 'fgsm', title: 'FGSM', paper: 'Goodfellow et al. 2015', options: { type: 'object', properties: {} } },
  ];
  await page.route('**/v1/methods', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(methods) }));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  const select = page.locator('[data-testid="method"]');
  t.equal(await select.getAttribute('data-source'), 'server');
  t.same(await select.locator('option').allInnerTexts(), ['ifgsm: Iterative FGSM', 'fgsm: FGSM']);
  t.match(await page.locator('#method-about').innerText(), /Kurakin/);
  t.equal(await page.locator('#method-options input').count(), 2, 'one input per option');

  await page.locator('#method-options input[name="alpha"]').fill('2');
  await page.locator('#method-options input[name="di"]').check();
  await page.locator('[data-testid="image-input"]').setInputFiles({ name: 'x.png', mimeType: 'image/png', buffer: await makePng(16, 16) });
  await page.locator('[data-testid="target"]').fill('Porn');
  await page.locator('[data-testid="run"]').click();
  await page.waitForSelector('[data-testid="predictions-after"][data-ensemble-top]');
  t.match(engine.attackCalls[0].params, { method: 'ifgsm', alpha: 2, di: true, target: 3 }, 'the changed options went with the attack');
  t.same(problems, []);
});
