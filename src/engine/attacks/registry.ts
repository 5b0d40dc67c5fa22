/**
 * The attack registry: every method's declaration (./definition), in the order the API lists
 * them. Adding a method: its file (class + `defineAttack`) and one line here; the HTTP schemas,
 * OpenAPI, GET /v1/methods, the CLI flags, the eval grammar and validation follow.
 */
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { MODIFIERS, type AttackDefinition, type ModifierId } from './definition';
import { fgsmAttack } from './fgsm';
import { ifgsmAttack } from './ifgsm';
import { miFgsmAttack } from './mi-fgsm';
import { mngL1Attack, mngL2Attack } from './mng';
import { pgdAttack } from './pgd';
import { siFgsmAttack } from './si-fgsm';
import { vmiFgsmAttack } from './vmi-fgsm';

export const ATTACKS = [fgsmAttack, ifgsmAttack, mngL1Attack, mngL2Attack, miFgsmAttack, pgdAttack, siFgsmAttack, vmiFgsmAttack] as const;

export type AttackMethod = (typeof ATTACKS)[number]['id'];
export const ATTACK_METHODS = ATTACKS.map((a) => a.id) as readonly AttackMethod[];
export const DEFAULT_METHOD: AttackMethod = 'mng-l1';

type UnionToIntersection<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;
type OptionsOf<D> = D extends { options: infer O extends TObject } ? Static<O> : never;
/** Every method option, by name (a name several methods share has one meaning and type). */
export type MethodOptionValues = Partial<UnionToIntersection<OptionsOf<(typeof ATTACKS)[number]>>>;

export function attackDefinition(id: string): AttackDefinition | undefined {
  return (ATTACKS as readonly AttackDefinition[]).find((a) => a.id === id);
}

/** A method's options and its modifiers' options, by name. */
export function optionSchemas(def: AttackDefinition): Record<string, TSchema> {
  const out: Record<string, TSchema> = { ...def.options.properties };
  for (const m of def.modifiers) Object.assign(out, MODIFIERS[m]);
  return out;
}

export interface RegistryOption {
  name: string;
  /** The schema (the first method's, for a method option several share; their ranges agree: test/engine/registry.test.ts). */
  schema: TSchema;
  /** The methods that take it, with their default (undefined: computed by the method). */
  methods: { id: string; default?: unknown; description?: string }[];
  modifier?: ModifierId;
}

/** Every option any method takes, once each, method options first (in registry order), then the modifiers'. */
export function allOptions(): RegistryOption[] {
  const byName = new Map<string, RegistryOption>();
  for (const def of ATTACKS as readonly AttackDefinition[]) {
    for (const [name, schema] of Object.entries(def.options.properties)) {
      const s = schema as { default?: unknown; description?: string };
      const entry = byName.get(name) ?? { name, schema, methods: [] };
      entry.methods.push({ id: def.id, default: s.default, description: s.description });
      byName.set(name, entry);
    }
  }
  for (const [modifier, options] of Object.entries(MODIFIERS) as [ModifierId, Record<string, TSchema>][]) {
    for (const [name, schema] of Object.entries(options)) {
      const methods = (ATTACKS as readonly AttackDefinition[]).filter((d) => d.modifiers.includes(modifier)).map((d) => ({ id: d.id, default: (schema as { default?: unknown }).default }));
      byName.set(name, { name, schema, methods, modifier });
    }
  }
  return [...byName.values()];
}

/** A method option's description for a front end that lists every method: per-method defaults and meanings. */
export function describeOption(o: RegistryOption): string {
  if (o.modifier) return (o.schema as { description?: string }).description ?? '';
  const texts = new Set(o.methods.map((m) => (m.description ?? '').replace(/ \(default [^)]*\)\.?$/, '').replace(/\.$/, '')));
  const defaults = o.methods.map((m) => `${m.id} ${m.default ?? (m.description?.match(/\(default ([^)]*)\)/)?.[1] ?? 'computed')}`);
  return `${[...texts].join(' / ')}. Methods ${o.methods.map((m) => m.id).join(', ')}; defaults: ${defaults.join(', ')}.`;
}
