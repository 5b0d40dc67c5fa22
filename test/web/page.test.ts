/**
 * The web page in a real browser (headless Chromium through playwright-core) against
 * `advserve serve` with the real bundled mobilenet_v2: upload a photo, run a short targeted
 * attack with live progress, check the result view, save a screenshot; and errors shown
 * with the server's problem detail.
 */
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, launchChromium, pageProblems, screenshotPath } from '../support/browser';
import { testPhoto } from '../support/photo';
import { spawnServer, type RunningServer } from '../support/serve';

const missing = browserMissing();
if (missing) t.comment(`skipping the page tests: ${missing}`);

t.test('the web page in Chromium', { skip: missing ?? false }, async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, ADVSERVE_MODELS: 'mobilenet_v2', ADVSERVE_WORKERS: '1', LOG_LEVEL: 'info' };
  delete env.ADVSERVE_MODEL_DIRS;
  delete env.ADVSERVE_API_KEYS_FILE;
  let server: RunningServer;
  let browser: Browser;
  let base: string;
  const photo = await testPhoto();
  t.comment(`photo: ${photo.name}${photo.name.startsWith('synthetic') ? ' (../shared/eval-images is absent: a synthetic scene made with sharp)' : ''}`);

  t.before(async () => {
    server = await spawnServer(env);
    base = `http://127.0.0.1:${server.port}`;
    browser = await launchChromium();
  });
  t.teardown(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    await server?.exited;
  });

  async function openPage(t: Test): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    t.teardown(() => page.close());
    const problems = pageProblems(page);
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    return { page, problems };
  }

  /** The ensemble's clean prediction, straight from the API (the page must show the same). */
  async function cleanLabel(): Promise<string> {
    const form = new FormData();
    form.append('image', new Blob([photo.bytes], { type: 'image/jpeg' }), photo.name);
    const res = await fetch(`${base}/v1/classify`, { method: 'POST', body: form, headers: { Accept: 'application/json' } });
    const body = (await res.json()) as { ensemble: { top: { label: string }[] } };
    return body.ensemble.top[0].label;
  }

  t.test('a targeted attack from the page: live progress, the three images, predictions changed, screenshot', async (t) => {
    const { page, problems } = await openPage(t);
    t.match(await page.locator('[data-testid="models"]').innerText(), /mobilenet_v2/, 'the loaded model is offered');
    const methods = await page.locator('[data-testid="method"] option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    t.ok(methods.includes('mng-l1') && methods.includes('fgsm'), `methods offered: ${methods.join(', ')}`);

    const clean = await cleanLabel();
    const target = clean === 'Drawing' ? 'Neutral' : 'Drawing';
    t.comment(`clean prediction ${clean}; target ${target}`);

    await page.locator('[data-testid="image-input"]').setInputFiles({ name: photo.name, mimeType: 'image/jpeg', buffer: photo.bytes });
    await page.locator('[data-testid="mode"]').selectOption('targeted');
    await page.locator('[data-testid="target"]').fill(target);
    await page.locator('[data-testid="eps"]').fill('16');
    await page.locator('#iterations').fill('8');
    await page.locator('[data-testid="method"]').selectOption('mng-l1');
    await page.locator('[data-testid="run"]').click();

    await page.waitForSelector('[data-testid="progress"][data-iteration]', { timeout: 120_000 });
    t.pass('a progress report was shown while the attack ran');
    await page.waitForSelector('[data-testid="predictions-after"][data-ensemble-top]', { timeout: 180_000 });

    const progress = await page.locator('[data-testid="progress"]').evaluate((el): Record<string, string | undefined> => ({ ...(el as unknown as { dataset: Record<string, string> }).dataset }));
    t.equal(progress.iterations, '8', 'progress knows the iteration count');
    t.equal(progress.iteration, progress.iterations, 'progress reached the last iteration');

    for (const id of ['result-original', 'result-adversarial', 'result-perturbation']) {
      const size = await page.locator(`[data-testid="${id}"]`).evaluate((el) => {
        const img = el as unknown as { naturalWidth: number; naturalHeight: number };
        return [img.naturalWidth, img.naturalHeight];
      });
      t.ok(size[0] > 0 && size[1] > 0, `${id} is shown (${size.join('x')})`);
    }
    const before = await page.locator('[data-testid="predictions-before"]').getAttribute('data-ensemble-top');
    const after = await page.locator('[data-testid="predictions-after"]').getAttribute('data-ensemble-top');
    t.equal(before, clean, 'predictions before: the clean label');
    t.equal(after, target, 'predictions after: the target');
    t.not(before, after, 'the predictions changed');
    t.equal(await page.locator('[data-testid="error"]').isHidden(), true, 'no error shown');
    t.match(await page.locator('#metrics').innerText(), /L∞[\s\S]*\d/, 'distances shown');
    t.match(await page.locator('#download').getAttribute('href'), /^blob:/, 'download link to the PNG');
    t.same(problems, [], 'no script errors or CSP violations');

    const file = screenshotPath('attack.png');
    await page.screenshot({ path: file, fullPage: true });
    t.comment(`screenshot: ${file}`);

    // A phone's width: one column (the three images stacked).
    await page.setViewportSize({ width: 390, height: 844 });
    const lefts = await Promise.all(['result-original', 'result-adversarial', 'result-perturbation'].map(async (id) => (await page.locator(`[data-testid="${id}"]`).boundingBox())!.x));
    t.ok(lefts.every((x) => Math.abs(x - lefts[0]) < 1), `images stacked on a phone (left edges ${lefts.join(', ')})`);
    const width = await page.evaluate('document.documentElement.scrollWidth');
    t.ok((width as number) <= 390, `nothing wider than the phone's screen (page width ${width})`);
    await page.screenshot({ path: screenshotPath('attack-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    // The defense tab, reached with the keyboard, on the adversarial image the page made.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
    t.match(download.suggestedFilename(), /^photo.*-adversarial\.png$|adversarial\.png$/, `download button: ${download.suggestedFilename()}`);
    const adversarial = await readFile((await download.path())!);
    t.same([...adversarial.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG', 'the download is a PNG');
    await page.locator('#tab-attack').focus();
    await page.keyboard.press('ArrowRight');
    t.equal(await page.locator('#tab-defense').getAttribute('aria-selected'), 'true', 'ArrowRight selects the defense tab');
    t.equal(await page.locator('#panel-defense').isVisible(), true, 'its panel is shown');
    t.equal(await page.locator('#panel-attack').isVisible(), false, 'the attack panel is hidden');
    await page.locator('[data-testid="defense-images"]').setInputFiles({ name: 'adv.png', mimeType: 'image/png', buffer: adversarial });
    await page.locator('[data-testid="defense-labels"]').fill(clean);
    await page.locator('[data-testid="defense-targets"]').fill(target);
    await page.locator('[data-testid="defenses"]').fill('mobilenet_v2,jpeg75+mobilenet_v2');
    await page.locator('[data-testid="evaluate"]').click();
    await page.waitForSelector('[data-testid="defense-table"]:not([hidden])', { timeout: 120_000 });
    const rows = await page.locator('[data-testid="defense-table"] tr').allInnerTexts();
    t.equal(rows.length, 3, 'a header and one row per defense');
    t.match(rows[1], /^mobilenet_v2\s+1\s+1\s+100%/, `undefended: the target hit (${rows[1]})`);
    t.match(rows[2], /^jpeg75\+mobilenet_v2\s+1\s/, 'the JPEG defense row');
    await page.screenshot({ path: screenshotPath('defense.png'), fullPage: true });
    t.same(problems, [], 'still no script errors');
  });

  t.test('errors show the problem+json title and detail', async (t) => {
    const { page, problems } = await openPage(t);
    const error = page.locator('[data-testid="error"]');

    await page.locator('[data-testid="image-input"]').setInputFiles({ name: photo.name, mimeType: 'image/jpeg', buffer: photo.bytes });
    await page.locator('[data-testid="target"]').fill('Drawing');
    await page.locator('[data-testid="eps"]').fill('99');
    await page.locator('[data-testid="run"]').click();
    await error.waitFor({ state: 'visible', timeout: 30_000 });
    t.match(await error.innerText(), /Invalid parameter[\s\S]*Parameter "eps" must be <= 64/, 'eps out of range: the server detail');

    await page.locator('[data-testid="eps"]').fill('8');
    await page.locator('[data-testid="image-input"]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await page.locator('[data-testid="run"]').click();
    await page.waitForSelector('[data-testid="error"][data-status]', { timeout: 30_000 });
    const text = await error.innerText();
    t.equal(await error.getAttribute('data-status'), '415', 'status 415');
    t.match(text, /Unsupported media type[\s\S]*PNG, JPEG or WebP/i, `a text file as the image: ${text}`);

    const file = screenshotPath('error.png');
    await page.screenshot({ path: file, fullPage: true });
    t.comment(`screenshot: ${file}`);
    t.same(problems, [], 'no script errors');
  });
});
