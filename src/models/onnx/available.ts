/**
 * Whether onnxruntime-node loads on this host. It is an optional dependency: where it is
 * missing (or its native binding fails to load), callers stay on tfjs.
 */
type Ort = typeof import('onnxruntime-node');

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
