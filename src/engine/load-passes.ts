/**
 * Loads one model for a runner, in the network runtime the configuration asks for:
 * - 'tfjs': the compiled tfjs network (./gradients);
 * - 'onnx': the compiled network exported to onnxruntime (./onnx-passes); an error when
 *   onnxruntime-node is missing or the network cannot be exported;
 * - 'auto': onnx when onnxruntime-node is installed and tfjs runs on wasm (on the native
 *   TensorFlow backend tfjs is fast already), falling back to tfjs per model with a warning.
 */
import { networksInOnnx, type OnnxProvider } from '../models/onnx/available';
import { exportModel, ModelBuildError, type ExportedModel } from '../models/onnx/export-model';
import { OnnxGradientNet, onnxRuntime, warmUpInput } from '../models/onnx/net';
import { buildNet, classifierOf, type LoadLog } from '../models/registry';
import type { ModelSpec } from '../models/types';
import { OnnxPasses } from './onnx-passes';
import { TfjsPasses, type ModelPasses } from './passes';

export type NetRuntime = 'auto' | 'onnx' | 'tfjs';
export type { OnnxProvider };

export interface PassOptions {
  runtime: NetRuntime;
  /** The tfjs backend in use ('wasm', 'tensorflow', 'cpu'). */
  backend: string;
  /** onnxruntime's intra-op threads. */
  threads: number;
  /** onnxruntime's intra-op threads for a large network (see sessionThreads); absent: threads. */
  wideThreads?: number;
  /** The worker serves this one model only: its session gets wideThreads whatever its size (see sessionThreads). */
  soleModel?: boolean;
  microBatch: number;
  /** onnxruntime's execution provider (default cpu). */
  onnxProvider?: OnnxProvider;
  /**
   * A model whose forward half's weights take at most this many bytes gets a second session on
   * that half alone, for probability passes (about a third of a gradient pass's time, for a second
   * copy of those weights; src/models/onnx/forward-only.ts). Default 0: none.
   */
  forwardMaxBytes?: number;
  /**
   * Builds and exports a model for onnxruntime (default: exportModel, on this thread, with
   * forwardMaxBytes). Gradient workers pass one that does it in a thread of its own
   * (./pool/export-in-thread).
   */
  exporter?: (spec: ModelSpec, log: LoadLog) => Promise<ExportedModel>;
}

export interface LoadedPasses {
  passes: ModelPasses;
  fallbacks: string[];
  loadMs: number;
}

/** Forward multiply-adds from which a network counts as large: InceptionV3 has 5.7e9, the MobileNetV2s 0.3e9 and 0.6e9. */
export const WIDE_MIN_MACS = 1e9;

/**
 * onnxruntime's threads for a network of `forwardMacs` forward multiply-adds: `wideThreads`, which
 * wait without spinning, for a large one or for the only model a worker serves; `threads` for the
 * rest. Why (docs/PERFORMANCE.md, fifth and sixth rounds): with one single-threaded worker per
 * core, a lone attack's largest pass (InceptionV3) runs on one core while the other idles once the
 * small passes are done; with two threads it takes that core too (1.7x faster alone), and under
 * load, when every core is busy, its threads wait instead of spinning. In an ensemble the small
 * networks' passes run beside the large one's, and a second thread slows the lone attack (4.9-5.3 s
 * against 4.3-4.8 s); with one model only, nothing runs beside its passes, and two threads make a
 * lone attack on an ImageNet MobileNetV2 10-25% faster, for about 4% less throughput under load.
 */
export function sessionThreads(forwardMacs: number, o: Pick<PassOptions, 'threads' | 'wideThreads' | 'soleModel'>): { threads: number; spin: boolean } {
  const wide = o.wideThreads ?? o.threads;
  return wide > o.threads && (o.soleModel || forwardMacs >= WIDE_MIN_MACS) ? { threads: wide, spin: false } : { threads: o.threads, spin: true };
}

/** Whether this process should try onnxruntime at all. */
export function wantsOnnx(runtime: NetRuntime, backend: string): boolean {
  if (runtime === 'onnx') {
    if (!onnxRuntime()) throw new Error('ADVSERVE_RUNTIME=onnx but onnxruntime-node is not installed (npm install onnxruntime-node, or use ADVSERVE_RUNTIME=tfjs)');
    return true;
  }
  return networksInOnnx(runtime, backend, () => onnxRuntime() !== undefined);
}

export async function loadPasses(spec: ModelSpec, log: LoadLog, o: PassOptions): Promise<LoadedPasses> {
  const started = Date.now();
  if (wantsOnnx(o.runtime, o.backend)) {
    let net: OnnxGradientNet | undefined;
    try {
      const exported = await (o.exporter ?? ((s: ModelSpec, l: LoadLog) => exportModel(s, l, { forwardMaxBytes: o.forwardMaxBytes })))(spec, log);
      const { threads, spin } = sessionThreads(exported.forwardMacs, o);
      net = await OnnxGradientNet.open({ ...spec, endsInSoftmax: exported.endsInSoftmax, quantization: exported.quantization }, exported, threads, o.onnxProvider, spin);
      await warmUp(net);
    } catch (err) {
      await net?.dispose();
      // Files that do not build fail the same way on either runtime.
      if (err instanceof ModelBuildError) throw new Error(err.message, { cause: err });
      if (o.runtime === 'onnx') throw new Error(`model ${spec.id}: cannot run in onnxruntime: ${(err as Error).message}`, { cause: err });
      log.warn({ model: spec.id, err: String(err) }, 'model cannot run in onnxruntime; using tfjs');
    }
    if (net) return { passes: new OnnxPasses(net, o.microBatch), fallbacks: [], loadMs: Date.now() - started };
  }
  const loaded = classifierOf(spec, await buildNet(spec, log), started);
  return { passes: new TfjsPasses(loaded.classifier, o.microBatch), fallbacks: loaded.fallbacks, loadMs: loaded.loadMs };
}

/** One forward + gradient pass on a blank image (and one probability pass): checks the output and prepares the kernels. */
async function warmUp(net: OnnxGradientNet): Promise<void> {
  const x = warmUpInput(net.spec);
  const { logits, dx } = await net.run(x, 1, [{ cls: 0, sign: 1, logit: false }]);
  if (logits.length !== net.classes) throw new Error(`warm-up returned ${logits.length} logits for ${net.classes} classes`);
  if (!dx || dx.some((v) => Number.isNaN(v)) || logits.some((v) => Number.isNaN(v))) throw new Error('NaN at warm-up');
  if (!net.hasForwardSession) return;
  const forward = await net.run(x, 1);
  if (forward.logits.some((v, i) => v !== logits[i])) throw new Error('the forward-only session disagrees with the gradient graph at warm-up');
}
