/**
 * advserve.json for an ImageNet classifier described the way ../shared/models/catalog.json
 * describes one (input transform x = p * scale + offset, layout, background class, softmax).
 * Shared by `advserve models pull` (src/models/pull/catalog.ts holds those fields for each
 * entry) and scripts/shared-models.ts (which reads them from ../shared), so a pulled folder and
 * a folder of links to ../shared describe a model the same way.
 */
import type { AdvserveJson } from '../spec-file';

/** The fields of a catalog.json model entry that decide its advserve.json. */
export interface CatalogNetwork {
  id: string;
  /** The network file: model.json (tfjs) or a .onnx file. */
  entry: string;
  input: { size: [number, number]; layout: string; scale: number[]; offset: number[]; formula: string };
  output: { background_index: number | null; ends_in_softmax: boolean };
}

/** Every catalog model comes with labels.json and wnids.json (WordNet ids, `background` first where there is one). */
export function advserveJsonFor(m: CatalogNetwork): AdvserveJson {
  const base: AdvserveJson = {
    id: m.id,
    file: m.entry,
    labels: 'labels.json',
    classIds: 'wnids.json',
    background: m.output.background_index === 0,
    inputSize: m.input.size,
    layout: m.input.layout as 'NCHW' | 'NHWC',
    output: m.output.ends_in_softmax ? 'probabilities' : 'logits',
  };
  // torchvision's normalisation, and its resize-then-centre-crop preprocessing.
  if (m.input.formula.includes('mean')) return { ...base, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'center-crop' };
  // x = p * scale + offset with the same scale on every channel: inputRange [offset, offset + 255 * scale].
  return { ...base, inputRange: [m.input.offset[0], m.input.offset[0] + 255 * m.input.scale[0]], alignCorners: true };
}
