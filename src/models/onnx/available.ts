/**
 * Whether onnxruntime-node loads on this host. It is an optional dependency: where it is
 * missing (or its native binding fails to load), callers stay on tfjs.
 */
type Ort = typeof import('onnxruntime-node');

/**
 * Where onnxruntime runs the networks: its CPU kernels; the CUDA execution provider (NVIDIA
 * GPUs; needs onnxruntime-node's CUDA provider libraries, which its install script downloads);
 * or the WebGPU provider (bundled with onnxruntime-node on Linux x64; any GPU with a Vulkan
 * driver). See README "GPU hosts". CI has no GPU: there WebGPU runs on Mesa's software Vulkan.
 */
export const ONNX_PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
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

/**
 * Whether the networks run in onnxruntime, for a runtime setting (auto, onnx, tfjs) and a tfjs
 * backend (the choice, auto included, or the one in use): 'onnx' always; 'auto' where
 * onnxruntime-node loads and tfjs is (or may become) wasm, since on the native TensorFlow
 * backend tfjs is fast already.
 */
export function networksInOnnx(runtime: string, backend: string, hasOnnx: () => boolean = () => onnxRuntime() !== undefined): boolean {
  if (runtime === 'onnx') return true;
  return runtime === 'auto' && (backend === 'auto' || backend === 'wasm') && hasOnnx();
}
