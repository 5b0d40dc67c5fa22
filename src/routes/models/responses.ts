/** problem+json answers of the model registry routes, with what each status means there. */
import { Type } from '@sinclair/typebox';
import { Problem } from '../schemas';

const MEANING: Record<number, string> = {
  400: 'A bad upload: missing spec or files, a file name that is not a plain base name, an unexpected field.',
  404: 'No model with this id is served.',
  409: 'model-exists: the id is served (or in the store) and replace was not asked for, or another upload/removal of it is in progress; model-protected: a bundled or ADVSERVE_MODEL_DIRS model.',
  413: 'The upload is larger than ADVSERVE_MODEL_UPLOAD_MAX_BYTES or has more than ADVSERVE_MODEL_UPLOAD_MAX_FILES files.',
  415: 'Not multipart/form-data.',
  422: 'invalid-model: the spec or the files do not make a model that loads (the loader\'s reason: a bad advserve.json field, an unsupported operator, labels that do not match the outputs...).',
  501: 'No model store: the server runs without ADVSERVE_MODEL_STORE.',
  503: 'The models are still loading (see Retry-After).',
};

export function registryProblems(...codes: number[]) {
  const out: Record<number, unknown> = {};
  for (const code of codes) {
    out[code] = {
      description: MEANING[code] ?? 'Error.',
      ...(code === 503 ? { headers: { 'Retry-After': { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying.' } } } : {}),
      content: { 'application/problem+json': { schema: Type.Ref(Problem) } },
    };
  }
  return out;
}

export const ModelIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', maxLength: 128, description: 'The model id.' }) });
