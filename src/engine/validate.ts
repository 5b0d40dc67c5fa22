/**
 * The engine's one check of an attack request, against the registry's declarations: the common
 * parameters, then each option the method takes (its own and its modifiers'), with the same
 * schema the HTTP layer validates with. Options the method does not take are ignored, as the
 * HTTP API always has (one query string serves every method).
 */
import type { AttackDefinition } from './attacks/definition';
import { checkOption } from './attacks/definition';
import { attackDefinition, ATTACK_METHODS, optionSchemas } from './attacks/registry';
import { InvalidOption } from './errors';
import type { AttackParams } from './types';

export interface ValidAttack {
  definition: AttackDefinition;
  /** The method's options and modifiers, defaults filled in where the schema has one. */
  options: Record<string, unknown>;
}

export function validateAttack(params: AttackParams, classes: number): ValidAttack {
  const definition = attackDefinition(params.method);
  if (!definition) throw new InvalidOption('method', `method must be one of ${ATTACK_METHODS.join(', ')}`);
  if (!(params.eps > 0 && params.eps <= 64)) throw new InvalidOption('eps', 'eps must be in (0, 64] on the 0..255 scale');
  if (!(Number.isInteger(params.iterations) && params.iterations >= 1 && params.iterations <= 1000)) {
    throw new InvalidOption('iterations', 'iterations must be an integer in [1, 1000]');
  }
  for (const name of ['target', 'label'] as const) {
    const v = params[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v < classes)) {
      throw new InvalidOption(name, `${name} must be a class index in [0, ${classes - 1}]`);
    }
  }
  if (params.targeted && params.target === undefined) throw new InvalidOption('target', 'a targeted attack needs a target');
  const options: Record<string, unknown> = {};
  const given = params as unknown as Record<string, unknown>;
  for (const [name, schema] of Object.entries(optionSchemas(definition))) {
    const value = given[name];
    if (value === undefined) {
      const fallback = (schema as { default?: unknown }).default;
      if (fallback !== undefined) options[name] = fallback;
      continue;
    }
    const why = checkOption(name, value, schema);
    if (why) throw new InvalidOption(name, why);
    options[name] = value;
  }
  return { definition, options };
}
