/**
 * Request parameters: merged from the query string and multipart text fields, validated
 * with the route's own querystring schema (same ajv, same coercion and defaults, same
 * error messages), then resolved against the loaded models (classes: src/models/class-names.ts).
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { AttackEngine } from '../engine/types';
import { badParam, unknownModel } from '../errors';
import { validationError, type ValidationIssue } from './problem';

/** The parameter names the route's querystring schema declares (undefined: the route takes none). */
function declaredParams(request: FastifyRequest): string[] | undefined {
  const schema = request.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
  return schema?.properties ? Object.keys(schema.properties) : undefined;
}

/** A 400 naming every parameter the route does not take (a typo such as `epsilon=2` is never ignored). */
function checkNames(names: string[], allowed: string[], where: string) {
  const unknown = names.filter((n) => !allowed.includes(n));
  if (unknown.length === 0) return;
  const quoted = unknown.map((n) => `"${n}"`).join(', ');
  throw badParam(
    unknown[0],
    `Unknown parameter${unknown.length > 1 ? 's' : ''} ${quoted} (${where}); this route takes: ${allowed.join(', ')}.`,
  );
}

/**
 * onRequest hook for routes with a querystring schema: unknown or repeated query parameters
 * are a 400 naming them, before the body is read (ajv would otherwise keep unknown names
 * silently and report a repeated one as "must be string").
 */
export const strictQuery: onRequestAsyncHookHandler = async function strictQuery(request) {
  const allowed = declaredParams(request);
  if (!allowed) return;
  const query = request.query as Record<string, unknown>;
  const names = Object.keys(query);
  checkNames(names, allowed, 'query string');
  const repeated = names.filter((n) => Array.isArray(query[n]));
  if (repeated.length > 0) {
    throw badParam(
      repeated[0],
      `Parameter${repeated.length > 1 ? 's' : ''} ${repeated.map((n) => `"${n}"`).join(', ')} given more than once in the query string; give each parameter once.`,
    );
  }
};

/**
 * Query parameters, overridden by multipart fields of the same name. Fastify has already
 * validated (and defaulted) the query string; the merged object is validated again so that
 * form fields get exactly the same checks.
 */
export function mergeParams<T>(request: FastifyRequest, fields: Record<string, string>): T {
  const merged: Record<string, unknown> = { ...(request.query as Record<string, unknown>), ...fields };
  if (Object.keys(fields).length === 0) return merged as T;
  checkNames(Object.keys(fields), declaredParams(request) ?? [], 'form field');
  const validate = request.getValidationFunction('querystring');
  if (validate && !validate(merged)) {
    throw validationError((validate.errors ?? []) as ValidationIssue[], 'query string or form field');
  }
  return merged as T;
}

/** `models=a,b` -> ['a', 'b'] (checked against the loaded models); undefined means all. */
export function parseModels(engine: AttackEngine, raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const ids = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
  if (ids.length === 0) throw badParam('models', 'Give at least one model id, or leave "models" out for all models.');
  const known = new Set(engine.listModels().map((m) => m.id));
  for (const id of ids) if (!known.has(id)) throw unknownModel(id);
  return ids;
}

export function requireParam<T>(value: T | undefined, param: string, detail: string): T {
  if (value === undefined) throw badParam(param, detail);
  return value;
}
