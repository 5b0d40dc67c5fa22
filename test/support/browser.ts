/**
 * A headless Chromium for the page tests: playwright-core driving Debian's chromium
 * (`apt-get install -y chromium`; .ci/run installs it). No browser is downloaded; without
 * /usr/bin/chromium (or ADVSERVE_CHROMIUM) the tests skip and say why.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.ADVSERVE_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set ADVSERVE_CHROMIUM`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Collects what the page reports as broken: uncaught errors and console errors (CSP violations among them). */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium logs every 4xx answer as "Failed to load resource"; the pages show those themselves.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
  });
  return problems;
}

/** Where a screenshot goes: the directory in ADVSERVE_SCREENSHOT_DIR, else .tap/screenshots. */
export function screenshotPath(name: string): string {
  const dir = resolve(process.env.ADVSERVE_SCREENSHOT_DIR ?? join(__dirname, '..', '..', '.tap', 'screenshots'));
  const file = join(dir, name);
  mkdirSync(dirname(file), { recursive: true });
  return file;
}
