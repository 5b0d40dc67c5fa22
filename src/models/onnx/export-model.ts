/**
 * A model from its files to the encoded onnxruntime graph (forward + input gradient, see
 * ./export), built with the calling thread's tfjs backend. The compiled tfjs network is freed
 * before returning: the graph's initializers hold the weights.
 */
import type { LoadLog } from '../registry';
import { buildNet } from '../registry';
import type { ModelSpec } from '../types';
import { exportGradientGraph } from './export';
import { encodeModel, gpuCpuNodes } from './proto';

export interface ExportedModel {
  bytes: Uint8Array;
  classes: number;
  endsInSoftmax: boolean;
  quantization: 'none' | 'dequantized';
  /** Multiply-adds of one image's forward pass (src/models/net/flops.ts). */
  forwardMacs: number;
  /** Nodes a GPU provider must leave to the CPU (see gpuCpuNodes). */
  cpuNodes: string[];
}

/** The model's files could not be built at all (as opposed to a network onnxruntime cannot take). */
export class ModelBuildError extends Error {}

export async function exportModel(spec: ModelSpec, log: LoadLog): Promise<ExportedModel> {
  let built: Awaited<ReturnType<typeof buildNet>>;
  try {
    built = await buildNet(spec, log);
  } catch (err) {
    throw new ModelBuildError((err as Error).message, { cause: err });
  }
  try {
    const graph = built.net.graph?.();
    if (!graph || built.fallbacks.length) throw new Error(`layers outside the compiler: ${built.fallbacks.join(', ') || 'whole model'}`);
    const { model, classes, forwardMacs } = exportGradientGraph(graph, { inputSize: spec.inputSize });
    return { bytes: encodeModel(model), classes, endsInSoftmax: built.endsInSoftmax, quantization: built.quantization, forwardMacs, cpuNodes: gpuCpuNodes(model) };
  } finally {
    built.net.dispose();
  }
}
