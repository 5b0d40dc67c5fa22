/**
 * The bundled models as data. All three are the real classifiers that npm `nsfwjs` 4.4.0
 * ships; they take RGB in [0, 1] and nsfwjs resizes with align_corners bilinear, which we
 * keep so that our predictions match the package's own.
 */
import type { ModelSpec } from './types';

export const NSFW_LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

export const BUNDLED_MODELS: ModelSpec[] = [
  {
    id: 'inception_v3',
    source: { kind: 'nsfwjs', name: 'InceptionV3' },
    format: 'layers',
    inputSize: [299, 299],
    inputRange: [0, 1],
    labels: NSFW_LABELS,
    endsInSoftmax: true,
    alignCorners: true,
  },
  {
    id: 'mobilenet_v2',
    source: { kind: 'nsfwjs', name: 'MobileNetV2' },
    format: 'layers',
    inputSize: [224, 224],
    inputRange: [0, 1],
    labels: NSFW_LABELS,
    endsInSoftmax: true,
    alignCorners: true,
  },
  {
    id: 'mobilenet_v2_mid',
    source: { kind: 'nsfwjs', name: 'MobileNetV2Mid' },
    format: 'graph',
    inputSize: [224, 224],
    inputRange: [0, 1],
    labels: NSFW_LABELS,
    endsInSoftmax: true,
    alignCorners: true,
  },
];
