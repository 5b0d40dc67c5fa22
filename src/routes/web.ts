/**
 * The web page at `/` (src/web: index.html, ES modules, style.css; no build step): static
 * files with a Content-Security-Policy that allows only this origin's scripts, styles and API
 * (images also from data: and blob: URLs, which the page makes from uploads and results).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';

/** src/web next to this file's folder; from dist/src/routes, the source tree's src/web. */
export function webRoot(): string {
  const candidates = [join(__dirname, '..', 'web'), join(__dirname, '..', '..', '..', 'src', 'web')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0];
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const webRoutes: FastifyPluginAsync = async (app) => {
  await app.register(fastifyStatic, {
    root: webRoot(),
    prefix: '/',
    // One route per file (no catch-all), so unknown paths keep the API's 404/405 problem+json.
    wildcard: false,
    index: 'index.html',
    decorateReply: false,
    cacheControl: true,
    maxAge: 0,
    setHeaders: (reply) => {
      reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      reply.header('X-Content-Type-Options', 'nosniff');
      reply.header('Referrer-Policy', 'no-referrer');
    },
  });
};
