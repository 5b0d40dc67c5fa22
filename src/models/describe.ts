import type { ModelInfo, ModelSpec } from './types';

/** The public description of a loaded model (GET /v1/models). */
export function describe(spec: ModelSpec, backend: string): ModelInfo {
  return {
    id: spec.id,
    labels: spec.labels,
    ...(spec.classIds ? { classIds: spec.classIds } : {}),
    classes: spec.labels.length,
    inputSize: spec.inputSize,
    ...(spec.mean && spec.std ? { mean: spec.mean, std: spec.std } : { inputRange: spec.inputRange }),
    layout: spec.layout ?? 'NHWC',
    channelOrder: spec.channelOrder ?? 'RGB',
    resize: spec.resize ?? 'squash',
    ...(spec.resize === 'center-crop' ? { cropFraction: spec.cropFraction ?? 0.875 } : {}),
    format: spec.format,
    quantization: spec.quantization ?? 'none',
    source: spec.source.kind === 'nsfwjs' ? `nsfwjs:${spec.source.name}` : `folder:${spec.source.path}`,
    backend,
  };
}
