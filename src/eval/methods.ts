/**
 * Attack methods for `advserve eval`, written as a method name with modifiers:
 * `mi-fgsm+di+ti` (diverse inputs, translation-invariant smoothing with a 7x7 kernel),
 * `ifgsm+ti15` (15x15 kernel), `mng-l1`, `mi-fgsm+di+ti+logit+alpha2` (logit loss, step 2),
 * or `none` (no attack: the clean images, a baseline for what the defenses cost).
 */
import { ATTACK_METHODS, type AttackMethod, type AttackParams } from '../engine/types';

export class EvalUsageError extends Error {
  override name = 'EvalUsageError';
}

export interface MethodSpec {
  /** The spec as written (trimmed, modifiers in the given order): the row name. */
  name: string;
  /** What the spec adds to AttackParams; null for `none`. */
  params: Pick<AttackParams, 'method' | 'di' | 'ti' | 'loss' | 'alpha'> | null;
}

export const TI_DEFAULT = 7;
const MODIFIERS = `+di, +ti (kernel ${TI_DEFAULT}), +tiN (kernel N), +logit (logit loss), +alphaX (step X on the 0..255 scale)`;
export const DEFAULT_METHODS = 'fgsm,ifgsm,mi-fgsm,mi-fgsm+di+ti,mng-l1';

export function parseMethod(raw: string): MethodSpec {
  const parts = raw.trim().split('+').map((s) => s.trim());
  const name = parts.join('+');
  const [base, ...mods] = parts;
  if (base === 'none') {
    if (mods.length) throw new EvalUsageError(`method "none" (the clean images) takes no modifiers: "${name}"`);
    return { name, params: null };
  }
  if (!ATTACK_METHODS.includes(base as AttackMethod)) {
    throw new EvalUsageError(`unknown method "${base}" in "${name}"; methods: ${ATTACK_METHODS.join(', ')}, none; modifiers: ${MODIFIERS}`);
  }
  const params: MethodSpec['params'] & object = { method: base as AttackMethod };
  for (const mod of mods) {
    const ti = /^ti(\d+)?$/.exec(mod);
    const alpha = /^alpha(\d+(?:\.\d+)?)$/.exec(mod);
    if (mod === 'di' && params.di === undefined) params.di = true;
    else if (mod === 'logit' && params.loss === undefined) params.loss = 'logit';
    else if (alpha && params.alpha === undefined) {
      const step = Number(alpha[1]);
      if (!(step > 0 && step <= 64)) throw new EvalUsageError(`"${mod}" in "${name}": the step must be in (0, 64]`);
      params.alpha = step;
    } else if (ti && params.ti === undefined) {
      const size = ti[1] === undefined ? TI_DEFAULT : Number(ti[1]);
      if (!(size % 2 === 1 && size >= 3 && size <= 31)) throw new EvalUsageError(`"${mod}" in "${name}": the TI kernel size must be odd, in [3, 31]`);
      params.ti = size;
    } else {
      throw new EvalUsageError(`unknown or repeated modifier "${mod}" in "${name}"; modifiers: ${MODIFIERS}`);
    }
  }
  return { name, params };
}

export function parseMethodList(raw: string): MethodSpec[] {
  const specs = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
  if (specs.length === 0) throw new EvalUsageError('--methods needs at least one method');
  return specs.map(parseMethod);
}
