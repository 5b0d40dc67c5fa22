/**
 * Attack methods for `advserve eval`, written as a method name with modifiers and options, all
 * derived from the attack registry (src/engine/attacks/registry.ts):
 * `mi-fgsm+di+ti` (diverse inputs, translation-invariant smoothing with a 7x7 kernel),
 * `ifgsm+ti15` (15x15 kernel), `mi-fgsm+di+ti+logit+alpha2` (logit loss, step 2), `mi-fgsm+mu0.5`,
 * `ifgsm+margin+kappa5`, or `none` (no attack: the clean images, a baseline for what the defenses cost).
 * A boolean option is `+name`; a value of a string option is `+value` (`+logit`); a number is
 * `+nameX` (`+ti` alone: kernel 7). A method takes only its own options and its modifiers'.
 */
import type { TSchema } from '@sinclair/typebox';
import { checkOption, parseOptionText } from '../engine/attacks/definition';
import { allOptions, attackDefinition, ATTACK_METHODS, optionSchemas } from '../engine/attacks/registry';
import type { AttackMethod, AttackParams } from '../engine/types';

export class EvalUsageError extends Error {
  override name = 'EvalUsageError';
}

export interface MethodSpec {
  /** The spec as written (trimmed, modifiers in the given order): the row name. */
  name: string;
  /** What the spec adds to AttackParams; null for `none`. */
  params: (Partial<AttackParams> & { method: AttackMethod }) | null;
}

/** `+ti` without a size: the kernel the TI paper recommends for transfer. */
export const TI_DEFAULT = 7;
export const DEFAULT_METHODS = 'fgsm,ifgsm,mi-fgsm,mi-fgsm+di+ti,mng-l1';

interface Token {
  /** How the token is written, for the help text. */
  form: string;
  option: string;
  /** The value for a bare token; undefined: a number follows the name. */
  read(rest: string): unknown;
}

type Schema = TSchema & { type?: string; enum?: unknown[] };

/** The tokens an option can be written as (see the file comment). */
function tokensOf(name: string, schema: Schema): Token[] {
  if (schema.type === 'boolean') return [{ form: `+${name}`, option: name, read: (rest) => (rest === '' ? true : NaN) }];
  if (schema.type === 'string' && schema.enum) {
    return schema.enum.map((v) => ({ form: `+${v}`, option: name, read: (rest) => (rest === '' ? v : NaN) }));
  }
  const bare = name === 'ti' ? TI_DEFAULT : undefined;
  return [{ form: `+${name}N${bare !== undefined ? ` (+${name}: ${bare})` : ''}`, option: name, read: (rest) => (rest === '' ? (bare ?? NaN) : parseOptionText(rest, schema)) }];
}

/** The grammar's tokens, in words, for error messages and help. */
export function grammarHelp(): string {
  return allOptions()
    .flatMap((o) => tokensOf(o.name, o.schema as Schema).map((t) => t.form))
    .join(', ');
}

/** The token `mod` stands for, among a method's options: the longest option name it starts with. */
function match(mod: string, schemas: Record<string, TSchema>): { token: Token; rest: string } | undefined {
  let best: { token: Token; rest: string } | undefined;
  for (const [name, schema] of Object.entries(schemas)) {
    for (const token of tokensOf(name, schema as Schema)) {
      const head = token.form.slice(1).replace(/N( \(.*\))?$/, '');
      const numeric = token.form.includes('N');
      if (numeric ? mod.startsWith(head) && /^[\d.]*$/.test(mod.slice(head.length)) : mod === head) {
        if (!best || head.length > best.token.form.length) best = { token, rest: numeric ? mod.slice(head.length) : '' };
      }
    }
  }
  return best;
}

export function parseMethod(raw: string): MethodSpec {
  const parts = raw.trim().split('+').map((s) => s.trim());
  const name = parts.join('+');
  const [base, ...mods] = parts;
  if (base === 'none') {
    if (mods.length) throw new EvalUsageError(`method "none" (the clean images) takes no modifiers: "${name}"`);
    return { name, params: null };
  }
  const definition = attackDefinition(base);
  if (!definition) throw new EvalUsageError(`unknown method "${base}" in "${name}"; methods: ${ATTACK_METHODS.join(', ')}, none; modifiers: ${grammarHelp()}`);
  const schemas = optionSchemas(definition);
  const params: Record<string, unknown> = { method: definition.id };
  for (const mod of mods) {
    const found = match(mod, schemas);
    if (!found || params[found.token.option] !== undefined) {
      throw new EvalUsageError(`unknown or repeated modifier "${mod}" in "${name}"; ${definition.id} takes: ${Object.keys(schemas).flatMap((n) => tokensOf(n, schemas[n] as Schema).map((t) => t.form)).join(', ')}`);
    }
    const value = found.token.read(found.rest);
    const why = checkOption(found.token.option, value, schemas[found.token.option]);
    if (why) throw new EvalUsageError(`"${mod}" in "${name}": ${why}`);
    params[found.token.option] = value;
  }
  return { name, params: params as MethodSpec['params'] };
}

export function parseMethodList(raw: string): MethodSpec[] {
  const specs = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
  if (specs.length === 0) throw new EvalUsageError('--methods needs at least one method');
  return specs.map(parseMethod);
}
