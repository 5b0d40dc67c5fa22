import type { ModelInfo, ModelSpec } from './types';

/** The public description of a loaded model (GET /v1/models). */
export function describe(spec: ModelSpec, backend: string): ModelInfo {
  return {
    id: spec.id,
    labels: spec.labels,
    inputSize: spec.inputSize,
    inputRange: spec.inputRange,
    format: spec.format,
    source: spec.source.kind === 'nsfwjs' ? `nsfwjs:${spec.source.name}` : `folder:${spec.source.path}`,
    backend,
  };
}
