/**
 * The eps-box arithmetic of an attack step as single passes over the tfjs wasm heap.
 *
 * Why: every tfjs op is one pass over the whole image, and mng's per-model step takes about 25 of
 * them on a 512x384 image (the projection 11 more), on the main thread while the model workers
 * wait. These kernels do each part in one pass, in WebAssembly SIMD, reading the tensors where
 * tfjs keeps them: the module imports the wasm backend's own memory.
 *
 * They are exact: each repeats, value for value, the float32 operations of the tfjs ops it
 * replaces, in the same order (the sums too: sequential, as tfjs' wasm Sum kernel adds). So the
 * attack's output bytes do not depend on whether they run (test/backend/box-kernels.test.ts).
 * Where they cannot run (another backend, not loaded, shapes that differ), callers use the ops.
 *
 * The text is compiled with wabt once per process (loadBoxKernels, at backend start) and
 * instantiated per wasm memory on first use.
 */
import * as tf from '@tensorflow/tfjs';
import { boxKernelsWat } from './box-kernels-wat';

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: abstract new (...args: never[]) => WasmMemory;
};

interface Exports {
  sum(pv: number, n: number, square: number): number;
  maskedSum(px: number, pg: number, plo: number, phi: number, n: number, scale: number, square: number): number;
  step(px: number, pg: number, plo: number, phi: number, pout: number, n: number, scale: number): void;
  addClip(px: number, pd: number, plo: number, phi: number, pout: number, n: number): void;
}

/** The fields of tfjs-backend-wasm's BackendWasm this uses. */
interface WasmBackend {
  /** The memory: exported by the single-threaded build (asm.memory), made in JavaScript by the threaded one (wasmMemory). */
  wasm: { asm?: { memory?: WasmMemory }; wasmMemory?: WasmMemory };
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

let compiled: { plain: object; shared: object } | undefined;
let enabled = true;
const instances = new WeakMap<WasmMemory, Exports>();

/** Compiles the kernels (once); until then boxKernels() returns undefined. */
export async function loadBoxKernels(): Promise<void> {
  if (compiled) return;
  const wabt = await (require('wabt') as typeof import('wabt'))();
  const build = (shared: boolean) => {
    const parsed = wabt.parseWat('box-kernels.wat', boxKernelsWat(shared), { simd: true, threads: true });
    try {
      return new WebAssembly.Module(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
  };
  compiled = { plain: build(false), shared: build(true) };
}

/** Turns the kernels off or back on (ADVSERVE_BOX_KERNELS; tests compare both paths). */
export function useBoxKernels(on: boolean): void {
  enabled = on;
}

function exportsFor(memory: WasmMemory): Exports {
  let ex = instances.get(memory);
  if (!ex) {
    const module = memory.buffer instanceof SharedArrayBuffer ? compiled!.shared : compiled!.plain;
    ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
    instances.set(memory, ex);
  }
  return ex;
}

/**
 * Kernels over float32 tensors of the box's shape [N, ...]; per-image numbers have one entry per
 * leading index. `square`: the L2 norm's sums of squares instead of the L1 norm's magnitudes.
 */
export interface BoxKernels {
  /** Per image: tf.sum(tf.abs(v)), or tf.sum(tf.square(v)). */
  sums(v: tf.Tensor, square: boolean): number[];
  /** Per image i: m = x + g*scales[i]; the sum of |g*insideBox(m)| (or of its squares). */
  maskedSums(x: tf.Tensor, g: tf.Tensor, scales: number[], square: boolean): number[];
  /** Per image i: clipToBox(x + g*scales[i]) - x. */
  step<T extends tf.Tensor>(x: T, g: tf.Tensor, scales: number[]): T;
  /** clipToBox(x + d). */
  addClip<T extends tf.Tensor>(x: T, d: tf.Tensor): T;
}

function wasmOf(b: unknown): { backend: WasmBackend; memory: WasmMemory } | undefined {
  const c = b as Partial<WasmBackend>;
  const memory = c.wasm?.asm?.memory ?? c.wasm?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory) || typeof c.dataIdMap?.get !== 'function' || typeof c.makeOutput !== 'function') return undefined;
  return { backend: c as WasmBackend, memory };
}

/**
 * The kernels for the box between `lower` and `upper`, to be called only with `tensors`; or
 * undefined where they cannot run: not the wasm backend, not loaded, or any of them not a float32
 * tensor of the box's shape held in the heap.
 */
export function boxKernels(lower: tf.Tensor, upper: tf.Tensor, ...tensors: tf.Tensor[]): BoxKernels | undefined {
  const wasm = wasmOf(tf.backend());
  if (!compiled || !enabled || !wasm) return undefined;
  const { backend, memory } = wasm;
  const at = (t: { dataId: object }) => backend.dataIdMap.get(t.dataId)?.memoryOffset ?? null;
  const fits = (t: tf.Tensor) => t.dtype === 'float32' && t.shape.length === lower.shape.length && t.shape.every((d, k) => d === lower.shape[k]) && at(t) !== null;
  if (![lower, upper, ...tensors].every(fits)) return undefined;
  const images = lower.shape[0] ?? 1;
  const n = lower.size / images;
  const bytes = n * 4;
  const perImage = <R>(f: (start: number, k: number) => R) => Array.from({ length: images }, (_, k) => f(k * bytes, k));
  const lo = (start: number) => at(lower)! + start;
  const hi = (start: number) => at(upper)! + start;
  // Offsets, not typed-array views: allocating the output may grow the memory, which detaches
  // views but moves no tensor.
  const output = <T extends tf.Tensor>(like: T, fill: (out: number) => void): T => {
    const info = backend.makeOutput(like.shape, 'float32');
    fill(at(info)!);
    return tf.engine().makeTensorFromTensorInfo(info) as T;
  };
  const ex = () => exportsFor(memory);
  return {
    sums: (v, square) => perImage((s) => ex().sum(at(v)! + s, n, square ? 1 : 0)),
    maskedSums: (x, g, scales, square) => perImage((s, k) => ex().maskedSum(at(x)! + s, at(g)! + s, lo(s), hi(s), n, scales[k], square ? 1 : 0)),
    step: (x, g, scales) => output(x, (out) => perImage((s, k) => ex().step(at(x)! + s, at(g)! + s, lo(s), hi(s), out + s, n, scales[k]))),
    addClip: (x, d) => output(x, (out) => perImage((s) => ex().addClip(at(x)! + s, at(d)! + s, lo(s), hi(s), out + s, n))),
  };
}
