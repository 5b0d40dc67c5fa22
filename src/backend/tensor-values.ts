/**
 * A float32 tensor's values without a copy, for code that only reads them before the next tfjs op.
 *
 * Why: on the wasm backend dataSync() and data() copy the tensor out of the wasm heap into a
 * fresh ArrayBuffer, and on this kind of host a fresh 2.4 MB buffer (one 512x384 image) costs
 * about 4 ms in page faults, plus the garbage collections its external memory brings on. The view
 * reads the heap in place; other backends get dataSync().
 *
 * The view is valid only until the next tfjs op: an op may grow the wasm memory, which detaches
 * the old buffer. Read it and drop it.
 */
import * as tf from '@tensorflow/tfjs';

/** The fields of tfjs-backend-wasm's BackendWasm this reads. */
interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
}

function isWasmHeap(b: unknown): b is WasmHeapBackend {
  const c = b as Partial<WasmHeapBackend>;
  return c.wasm?.HEAPU8 instanceof Uint8Array && typeof c.dataIdMap?.get === 'function';
}

export function float32Values(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new TypeError(`float32Values: a ${t.dtype} tensor`);
  const backend = tf.backend();
  if (!isWasmHeap(backend)) return t.dataSync() as Float32Array;
  const offset = backend.dataIdMap.get(t.dataId)?.memoryOffset;
  if (offset === null || offset === undefined) return t.dataSync() as Float32Array;
  return new Float32Array(backend.wasm.HEAPU8.buffer, offset, t.size);
}

/**
 * A tensor holding a copy of `values`, which the caller may overwrite afterwards (a reused
 * buffer). The wasm backend copies into its heap by itself; others (cpu) may keep the very array,
 * so they get a copy of it.
 */
export function tensorOfCopy(values: Float32Array, shape: [number, number, number, number]): tf.Tensor4D {
  return tf.tensor4d(isWasmHeap(tf.backend()) ? values : values.slice(), shape);
}
