/**
 * Multiply-adds of one image's forward pass through a compiled program: each conv, depthwise conv
 * and dense step costs one per weight read per output; everything else counts as nothing. Used
 * to tell large networks (whose passes split well over threads) from small ones, and by the
 * bench's GFLOP/s table.
 */
import * as tf from '@tensorflow/tfjs';
import type { NetGraph } from './program';

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** From the value shapes of one probe image (graph.shapes). */
export function forwardMacsOf(graph: NetGraph, shapes: Map<string, number[]>): number {
  let macs = 0;
  for (const s of graph.steps) {
    const out = shapes.get(s.out);
    if (!out) continue;
    const perImage = prod(out.slice(1));
    if (s.desc.op === 'conv') {
      const [kh, kw, ci] = s.desc.layer.filter.shape;
      // conv: [kh, kw, ci, co], each output reads kh*kw*ci inputs; depthwise: [kh, kw, C, M], each reads kh*kw.
      macs += perImage * kh * kw * (s.desc.layer.depthwise ? 1 : ci);
    } else if (s.desc.op === 'dense') {
      macs += perImage * s.desc.layer.kernel.shape[0];
    }
  }
  return macs;
}

/** The same, with the shapes from a probe at [h, w, 3]. */
export function forwardMacs(graph: NetGraph, [h, w]: [number, number]): number {
  const probe = tf.zeros([1, h, w, 3]) as tf.Tensor4D;
  try {
    return forwardMacsOf(graph, graph.shapes(probe));
  } finally {
    probe.dispose();
  }
}
