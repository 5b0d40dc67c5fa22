/**
 * Defense specs: `[transform[param]+]...model`, e.g. `jpeg75+mobilenet_v2_mid`,
 * `median3+resize-pad+mobilenet_v2`, `blur1.5+inception_v3`, or a plain model id. A transform's
 * parameter is the number written right after its name (its default when absent); the
 * transforms run left to right; the last element must be a loaded model id. A list of
 * defenses is comma-separated. Spaces work as "+" too (a "+" left unencoded in a URL query
 * string arrives as a space).
 */
import { ApiError, badParam } from '../errors';
import { TRANSFORMS, TRANSFORM_NAMES } from './transforms';

export interface TransformStep {
  name: string;
  /** The parameter in effect (the default when the spec gives none); undefined when the transform takes none. */
  param?: number;
}

export interface Defense {
  /** The spec as written, trimmed, its elements joined by "+": the defense's name in results. */
  spec: string;
  transforms: TransformStep[];
  model: string;
}

export interface DefenseLimits {
  /** Most transforms in one defense's chain (the service's bound; the CLI sets none). */
  maxTransforms?: number;
}

const STEP = /^([a-z](?:[a-z-]*[a-z])?)(\d+(?:\.\d+)?)?$/;

function parseStep(token: string, spec: string, param: string): TransformStep {
  const m = STEP.exec(token.toLowerCase());
  const def = m ? TRANSFORMS[m[1]] : undefined;
  if (!m || !def) {
    throw badParam(param, `Unknown transform "${token}" in defense "${spec}"; transforms: ${TRANSFORM_NAMES.join(', ')} (a number right after the name sets its parameter).`);
  }
  if (m[2] === undefined) return def.defaultParam === undefined ? { name: def.name } : { name: def.name, param: def.defaultParam };
  const value = Number(m[2]);
  const problem = def.check(value);
  if (problem) throw badParam(param, `${problem} (in defense "${spec}").`);
  return { name: def.name, param: value };
}

/** Parses one defense against the loaded model ids. 400 for a bad transform or too long a chain, 404 for an unknown model. */
export function parseDefense(raw: string, modelIds: readonly string[], param = 'defenses', limits: DefenseLimits = {}): Defense {
  const trimmed = raw.trim();
  // Spaces separate like "+": an unencoded "+" in a URL query string arrives as a space.
  const parts = trimmed.split(/\s*\+\s*|\s+/);
  if (!trimmed || parts.some((p) => p === '')) throw badParam(param, `Defense "${trimmed}" has an empty element; write e.g. jpeg75+${modelIds[0] ?? 'model_id'}.`);
  const spec = parts.join('+');
  const model = parts[parts.length - 1];
  const max = limits.maxTransforms ?? Infinity;
  if (parts.length - 1 > max) throw badParam(param, `Defense "${spec}" chains ${parts.length - 1} transforms; at most ${max} are allowed in one defense.`);
  const transforms = parts.slice(0, -1).map((p) => parseStep(p, spec, param));
  if (!modelIds.includes(model)) {
    const hint = STEP.test(model.toLowerCase()) && TRANSFORMS[STEP.exec(model.toLowerCase())![1]] ? ` (a defense must end with the model that classifies, e.g. ${spec}+${modelIds[0] ?? 'model_id'})` : '';
    throw new ApiError(404, 'unknown-model', 'Unknown model', `No loaded model has id "${model}"${hint}; loaded: ${modelIds.join(', ')}.`, param);
  }
  return { spec, transforms, model };
}

/** A comma-separated list of defenses; duplicates are dropped, order is kept. */
export function parseDefenseList(raw: string, modelIds: readonly string[], param = 'defenses', limits: DefenseLimits = {}): Defense[] {
  const specs = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
  if (specs.length === 0) throw badParam(param, 'Give at least one defense, e.g. jpeg75+mobilenet_v2 (or leave it out for every loaded model).');
  return specs.map((s) => parseDefense(s, modelIds, param, limits));
}

/** Every loaded model without transforms. */
export const plainDefenses = (modelIds: readonly string[]): Defense[] => modelIds.map((id) => ({ spec: id, transforms: [], model: id }));
