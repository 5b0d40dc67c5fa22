/**
 * Which methods each path takes, recorded from the routes as they are added (onRoute), so that
 * a request with a wrong method on a known path is a 405 with `Allow` rather than a 404.
 */
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { methodNotAllowed } from '../errors';
import { notFoundHandler, sendProblem } from './problem';

interface RouteEntry {
  pattern: RegExp;
  methods: Set<string>;
}

/** A find-my-way path (`/a/:id`, `/docs/*`) as an anchored regular expression. */
function toPattern(url: string): RegExp {
  const body = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((piece) => (piece === '*' ? '.*' : piece.startsWith(':') ? '[^/]+' : piece.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

export function methodTable() {
  const routes = new Map<string, RouteEntry>();

  /** onRoute hook: remembers the route's path and methods (HEAD comes with GET). */
  const record = (route: RouteOptions) => {
    const entry = routes.get(route.url) ?? { pattern: toPattern(route.url), methods: new Set<string>() };
    for (const m of [route.method].flat()) entry.methods.add(m.toUpperCase());
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
    routes.set(route.url, entry);
  };

  /** The methods a path takes, in a stable order; empty when no route has the path. */
  const allowed = (path: string): string[] => {
    const out = new Set<string>();
    for (const { pattern, methods } of routes.values()) if (pattern.test(path)) for (const m of methods) out.add(m);
    return [...out].sort();
  };

  /** Not-found handler: 405 with Allow when the path exists under other methods, else 404. */
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0];
    const allow = allowed(path);
    if (allow.length > 0 && !allow.includes(request.method)) return sendProblem(request, reply, methodNotAllowed(request.method, path, allow));
    return notFoundHandler(request, reply);
  };

  return { record, allowed, notFound };
}
