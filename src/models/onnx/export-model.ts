/**
 * A model from its files to the encoded onnxruntime graph (forward + input gradient, see
 * ./export), built with the calling thread's tfjs backend. The compiled tfjs network is freed
 * before returning: the graph's initializers hold the weights.
 */
import type { LoadLog } from '../registry';
import { buildNet } from '../registry';
import type { ModelSpec } from '../types';
import { exportGradientGraph } from './export';
import { forwardOnly, initializerBytes } from './forward-only';
import { encodeModel, gpuCpuNodes, type EncodedGraph } from './proto';

export interface ExportedModel {
  bytes: Uint8Array;
  classes: number;
  endsInSoftmax: boolean;
  quantization: 'none' | 'dequantized';
  /** Multiply-adds of one image's forward pass (src/models/net/flops.ts). */
  forwardMacs: number;
  /** Nodes a GPU provider must leave to the CPU (see gpuCpuNodes). */
  cpuNodes: string[];
  /** The forward half alone (./forward-only), for probability passes; absent when its weights exceed ModelExportOptions.forwardMaxBytes. */
  forward?: EncodedGraph;
}

export interface ModelExportOptions {
  /**
   * Also encode the forward-only graph when its weights take at most this many bytes (a session
   * on it holds a second copy of them); default 0, none.
   */
  forwardMaxBytes?: number;
}

/** The model's files could not be built at all (as opposed to a network onnxruntime cannot take). */
export class ModelBuildError extends Error {}

export async function exportModel(spec: ModelSpec, log: LoadLog, options: ModelExportOptions = {}): Promise<ExportedModel> {
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
    // A cap of 0 means none, even for a network without weights.
    const cap = options.forwardMaxBytes ?? 0;
    const half = cap > 0 ? forwardOnly(model) : undefined;
    const forward = half && initializerBytes(half) <= cap ? { bytes: encodeModel(half), cpuNodes: gpuCpuNodes(half) } : undefined;
    return { bytes: encodeModel(model), classes, endsInSoftmax: built.endsInSoftmax, quantization: built.quantization, forwardMacs, cpuNodes: gpuCpuNodes(model), ...(forward ? { forward } : {}) };
  } finally {
    built.net.dispose();
  }
}
