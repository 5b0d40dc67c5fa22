/**
 * A network's forward + input-gradient pass in onnxruntime (native CPU kernels, its own
 * threads). onnxruntime-node is an optional dependency: `onnxRuntime()` is undefined where it
 * is not installed, and callers then stay on tfjs.
 *
 * Why: on wasm, convolutions run at about the 128-bit SIMD peak of one core (~25 GFLOP/s) while
 * onnxruntime's AVX2/AVX-512 kernels run several times faster; an attack is nothing but these
 * passes (docs/PERFORMANCE.md).
 */
import type { NetGraph } from '../net/program';
import { pixelAffine } from '../classifier';
import type { ModelSpec } from '../types';
import { exportGradientGraph } from './export';
import { encodeModel, gpuCpuNodes, type EncodedGraph } from './proto';

import { onnxRuntime, type OnnxProvider } from './available';

export { onnxRuntime };

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

/** One pass's results for a batch of n images. */
export interface OnnxPassResult {
  /** [n, classes] pre-softmax logits. */
  logits: Float32Array;
  /** [n, h, w, 3] gradient of the objective at the network input (absent for a forward-only run). */
  dx?: Float32Array;
}

export interface OnnxObjective {
  cls: number;
  /** +1: increase the class's score (towards); -1: decrease it. */
  sign: 1 | -1;
  /** Score = the raw logit instead of log-softmax. */
  logit: boolean;
  /** Score = the C&W margin with this kappa (takes precedence over logit). */
  margin?: number;
}

export class OnnxGradientNet {
  private constructor(
    readonly spec: ModelSpec,
    readonly classes: number,
    private readonly ort: Ort,
    private readonly session: Session,
    /** The session's intra-op threads. */
    readonly threads: number,
    /** A session on the forward half alone (./forward-only), for probability passes; absent: they run the whole graph. */
    private readonly forwardSession?: Session,
  ) {}

  /** Whether probability passes run the forward half alone. */
  get hasForwardSession(): boolean {
    return this.forwardSession !== undefined;
  }

  /**
   * Exports `graph` (a compiled network at spec.inputSize) and opens a session on it.
   * The caller may free the compiled network afterwards: the session owns copies of the weights.
   */
  static async create(spec: ModelSpec, graph: NetGraph, threads: number, provider: OnnxProvider = 'cpu'): Promise<OnnxGradientNet> {
    const { model, classes } = exportGradientGraph(graph, { inputSize: spec.inputSize });
    return OnnxGradientNet.open(spec, { bytes: encodeModel(model), classes, cpuNodes: gpuCpuNodes(model) }, threads, provider);
  }

  /**
   * Opens a session on a graph exportGradientGraph wrote (encoded), for a network with `classes`
   * outputs. spin false: idle intra-op threads wait instead of spinning (onnxruntime spins by default).
   */
  static async open(
    spec: ModelSpec,
    exported: { bytes: Uint8Array; classes: number; cpuNodes?: string[]; forward?: EncodedGraph },
    threads: number,
    provider: OnnxProvider = 'cpu',
    spin = true,
  ): Promise<OnnxGradientNet> {
    const ort = onnxRuntime();
    if (!ort) throw new Error('onnxruntime-node is not installed');
    const { bytes, classes, forward } = exported;
    if (classes !== spec.labels.length) throw new Error(`model ${spec.id} outputs ${classes} classes but has ${spec.labels.length} labels`);
    const options: SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
    };
    const session = await openSession(ort, bytes, provider, exported.cpuNodes ?? [], options);
    let forwardSession: Session | undefined;
    try {
      forwardSession = forward ? await openSession(ort, forward.bytes, provider, forward.cpuNodes, options) : undefined;
    } catch (err) {
      await session.release();
      throw err;
    }
    return new OnnxGradientNet(spec, classes, ort, session, threads, forwardSession);
  }

  /**
   * x: n images at the network's input size and range, NHWC. With objectives (one per image),
   * also returns the gradient of sum_i sign_i * score_i(cls_i) with respect to x.
   */
  async run(x: Float32Array, n: number, objectives?: OnnxObjective[]): Promise<OnnxPassResult> {
    const [h, w] = this.spec.inputSize;
    if (x.length !== n * h * w * 3) throw new Error(`onnx pass: expected ${n}x${h}x${w}x3 values, got ${x.length}`);
    if (objectives && objectives.length !== n) throw new Error(`onnx pass: ${objectives.length} objectives for ${n} images`);
    const k = this.classes;
    const onehot = new Float32Array(n * k);
    const sign = new Float32Array(n);
    const uselogit = new Float32Array(n);
    const usemargin = new Float32Array(n);
    const kappa = new Float32Array(n);
    objectives?.forEach((o, i) => {
      if (!(o.cls >= 0 && o.cls < k)) throw new Error(`onnx pass: class ${o.cls} out of range [0, ${k})`);
      onehot[i * k + o.cls] = 1;
      sign[i] = o.sign;
      uselogit[i] = o.logit ? 1 : 0;
      usemargin[i] = o.margin !== undefined ? 1 : 0;
      kappa[i] = o.margin ?? 0;
    });
    const T = this.ort.Tensor;
    const feeds = {
      x: new T('float32', x, [n, h, w, 3]),
      onehot: new T('float32', onehot, [n, k]),
      sign: new T('float32', sign, [n, 1]),
      uselogit: new T('float32', uselogit, [n, 1]),
      usemargin: new T('float32', usemargin, [n, 1]),
      kappa: new T('float32', kappa, [n, 1]),
    };
    if (!objectives && this.forwardSession) {
      const out = await this.forwardSession.run({ x: feeds.x }, ['logits']);
      return { logits: out.logits.data as Float32Array };
    }
    // Fetching only the logits does NOT skip the backward half: onnxruntime runs the whole graph
    // (measured: InceptionV3 batch 1, 237 ms logits-only against 244 ms with dx). Hence the
    // forward session, where a model's weights are small enough for a second copy. Tried and not
    // kept: the backward half in an If branch skipped for probability passes. It made them 2.4-2.7x
    // faster but raised the peak memory of a batch-8 gradient pass by ~265 MB (onnxruntime plans
    // the branch's buffers apart from the outer graph's); see docs/PERFORMANCE.md.
    const out = await this.session.run(feeds, objectives ? ['logits', 'dx'] : ['logits']);
    return { logits: out.logits.data as Float32Array, dx: objectives ? (out.dx.data as Float32Array) : undefined };
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.forwardSession?.release();
  }
}

type SessionOptions = import('onnxruntime-node').InferenceSession.SessionOptions;

/** Each GPU provider's name and what it needs, for the error when its session cannot open. */
const GPU_PROVIDERS: Record<Exclude<OnnxProvider, 'cpu'>, { name: string; needs: string }> = {
  cuda: {
    name: 'CUDA',
    needs: "an NVIDIA driver, CUDA 12 and cuDNN 9 libraries, and onnxruntime-node's CUDA provider files, which its install script downloads (npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12)",
  },
  webgpu: {
    name: 'WebGPU',
    needs: "a GPU adapter: a Vulkan driver for the GPU (onnxruntime-node bundles the WebGPU provider on Linux x64; Mesa's lavapipe 25 serves as a software one, 22.3 does not)",
  },
};

/**
 * A session on the CPU kernels, or on a GPU provider first (with the CPU provider for any node
 * it does not take, and for `cpuNodes`, which WebGPU takes but cannot run). A GPU session that
 * cannot open says what is missing instead of onnxruntime's bare error.
 */
async function openSession(ort: Ort, bytes: Uint8Array, provider: OnnxProvider, cpuNodes: string[], options: SessionOptions): Promise<Session> {
  if (provider === 'cpu') return ort.InferenceSession.create(bytes, options);
  // onnxruntime-node reads WebGPU's options from its entry in executionProviders (not from session config entries).
  // An empty list is refused ("Provider options key/value cannot be empty"): only when there are some.
  const gpu = provider === 'webgpu' && cpuNodes.length ? { name: 'webgpu' as const, forceCpuNodeNames: cpuNodes } : provider;
  try {
    return await ort.InferenceSession.create(bytes, { ...options, executionProviders: [gpu, 'cpu'] });
  } catch (err) {
    const { name, needs } = GPU_PROVIDERS[provider];
    throw new Error(
      `ADVSERVE_ONNX_PROVIDER=${provider}: onnxruntime could not open a ${name} session (${(err as Error).message}). It needs ${needs}; see README "GPU hosts"`,
      { cause: err },
    );
  }
}

/** Model input of a blank mid-grey image, for the warm-up pass. */
export function warmUpInput(spec: ModelSpec): Float32Array {
  const [h, w] = spec.inputSize;
  const { scale, offset } = pixelAffine(spec);
  return Float32Array.from({ length: h * w * 3 }, (_, i) => 128 * scale[i % 3] + offset[i % 3]);
}
