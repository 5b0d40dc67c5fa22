/**
 * Request parameters: merged from the query string and multipart text fields, validated
 * with the route's own querystring schema (same ajv, same coercion and defaults, same
 * error messages), then resolved against the loaded models (classes: src/models/class-names.ts).
 */
import type { FastifyRequest } from 'fastify';
import type { AttackEngine } from '../engine/types';
import { badParam, unknownModel } from '../errors';
import { validationError, type ValidationIssue } from './problem';

/**
 * Query parameters, overridden by multipart fields of the same name. Fastify has already
 * validated (and defaulted) the query string; the merged object is validated again so that
 * form fields get exactly the same checks.
 */
export function mergeParams<T>(request: FastifyRequest, fields: Record<string, string>): T {
  const merged: Record<string, unknown> = { ...(request.query as Record<string, unknown>), ...fields };
  if (Object.keys(fields).length === 0) return merged as T;
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
