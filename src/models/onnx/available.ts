/**
 * Whether onnxruntime-node loads on this host. It is an optional dependency: where it is
 * missing (or its native binding fails to load), callers stay on tfjs.
 */
type Ort = typeof import('onnxruntime-node');

/**
 * Where onnxruntime runs the networks: its CPU kernels, or the CUDA execution provider (NVIDIA
 * GPUs; needs onnxruntime-node's CUDA provider libraries, which its install script downloads:
 * see README "GPU hosts"). Untested in this repository's CI, which has no GPU.
 */
export const ONNX_PROVIDERS = ['cpu', 'cuda'] as const;
export type OnnxProvider = (typeof ONNX_PROVIDERS)[number];

let cached: Ort | null | undefined;

/** The onnxruntime-node module, or undefined when it is not installed (or fails to load on this host). */
export function onnxRuntime(): Ort | undefined {
  if (cached === undefined) {
    try {
      cached = require('onnxruntime-node') as Ort;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
