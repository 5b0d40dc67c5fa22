/**
 * A job's form fields as `advserve eval` settings, checked against the loaded models: the same
 * grammar (methods with modifiers, defense chains), defaults and ranges as the CLI.
 */
import { parseDefenseList } from '../../defense/parse';
import type { AttackEngine } from '../../engine/types';
import { badParam } from '../../errors';
import { defaultDefenses } from '../../eval/command';
import { DEFAULT_METHODS, EvalUsageError, parseMethodList } from '../../eval/methods';
import { evalContext } from '../../eval/run';
import type { JobSettings } from '../../jobs/types';
import { resolveClass } from '../../models/class-names';
import type { JobFields } from './upload';

function number(fields: JobFields, name: 'eps' | 'iterations' | 'seed', dflt: number, ok: (v: number) => boolean, what: string): number {
  const raw = fields[name];
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !ok(v)) throw badParam(name, `Field "${name}" must be ${what}, not "${raw}".`);
  return v;
}

function perImage(raw: string, param: string, count: number): string[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw badParam(param, `Field "${param}" has an empty entry; give one class (index, label, synonym or class id) per image, comma-separated.`);
  if (items.length !== count) throw badParam(param, `Field "${param}" has ${items.length} entries but the job has ${count} images; give one per image, in image order.`);
  return items;
}

export interface ParsedSettings {
  settings: JobSettings;
  /** The label models' class names. */
  classes: string[];
}

export function parseJobFields(fields: JobFields, engine: AttackEngine, images: number, maxTransforms: number): ParsedSettings {
  const mode = fields.mode ?? 'targeted';
  if (mode !== 'targeted' && mode !== 'untargeted') throw badParam('mode', `Field "mode" must be targeted or untargeted, not "${mode}".`);
  const targeted = mode === 'targeted';
  const eps = number(fields, 'eps', 16, (v) => v > 0 && v <= 64, 'a number in (0, 64] (0..255 scale)');
  const iterations = number(fields, 'iterations', 20, (v) => Number.isInteger(v) && v >= 1 && v <= 1000, 'an integer in [1, 1000]');
  const seed = number(fields, 'seed', 0, (v) => Number.isInteger(v) && v >= 0 && v <= 4294967295, 'an integer in [0, 4294967295]');
  let methods;
  try {
    methods = parseMethodList(fields.methods ?? DEFAULT_METHODS).map((m) => m.name);
  } catch (err) {
    if (err instanceof EvalUsageError) throw badParam('methods', err.message.replace('--methods', 'methods'));
    throw err;
  }
  const ids = engine.listModels().map((m) => m.id);
  const attackModels = fields.attack_models?.split(',').map((s) => s.trim()).filter(Boolean);
  if (attackModels && attackModels.length === 0) throw badParam('attack_models', 'Field "attack_models" names no model.');
  const unknown = attackModels?.find((id) => !ids.includes(id));
  if (unknown) throw badParam('attack_models', `No loaded model has id "${unknown}"; loaded: ${ids.join(', ')}.`);
  const ctx = evalContext(engine, attackModels);
  const defenses = parseDefenseList(fields.defenses ?? defaultDefenses(ids), ids, 'defenses', { maxTransforms }).map((d) => d.spec);
  const classes = engine.classes(ctx.labelModels);
  const labels = fields.labels === undefined ? undefined : perImage(fields.labels, 'labels', images).map((v) => resolveClass(classes, v, 'labels'));
  if (fields.targets !== undefined && !targeted) throw badParam('targets', 'Field "targets" needs mode=targeted.');
  const targets = fields.targets === undefined ? undefined : perImage(fields.targets, 'targets', images).map((v) => resolveClass(classes, v, 'targets'));
  return {
    settings: {
      methods,
      defenses,
      attackModels: ctx.attackModels,
      labelModels: ctx.labelModels,
      targeted,
      eps,
      iterations,
      seed,
      ...(labels ? { labels } : {}),
      ...(targets ? { targets } : {}),
    },
    classes: ctx.labels,
  };
}
