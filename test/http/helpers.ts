/** Shared set-up for the HTTP tests: an app on the fake engine, and problem+json checks. */
import type { Test } from 'tap';
import type { Response } from 'supertest';
import { buildApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { PROBLEM_BASE } from '../../src/errors';
import { FakeEngine, type FakeEngineOptions } from '../helpers/fake-engine';

export async function setup(t: Test, opts: { config?: Partial<Config>; engine?: FakeEngineOptions } = {}) {
  const engine = new FakeEngine(opts.engine);
  const config: Config = { ...loadConfig({}), ...opts.config };
  const app = await buildApp({ engine, config, logger: false });
  t.teardown(() => app.close());
  return { app, engine, config, server: app.server };
}

/** Asserts an RFC 9457 body with our stable type URI (and the parameter, when given). */
export function isProblem(t: Test, res: Response, status: number, type: string, param?: string) {
  t.equal(res.status, status, `status ${status} (${res.body?.detail ?? res.text?.slice(0, 200)})`);
  t.match(res.headers['content-type'], /^application\/problem\+json/, 'problem+json');
  const body = typeof res.body === 'object' && res.body && Object.keys(res.body).length ? res.body : JSON.parse(res.text);
  t.equal(body.type, PROBLEM_BASE + type, `type ${type}`);
  t.equal(body.status, status, 'status in body');
  t.type(body.title, 'string');
  t.type(body.detail, 'string');
  if (param !== undefined) t.equal(body.param, param, `param ${param}`);
  return body;
}

/** supertest buffers image/png bodies into res.body only with a parser; this one keeps bytes. */
export function binaryParser(res: NodeJS.ReadableStream & { setEncoding(e: string): void }, cb: (err: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
}
