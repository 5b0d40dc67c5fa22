/** Messages between the pool (main thread) and its gradient workers. */
import type { BackendChoice } from '../../config';
import type { ModelSpec } from '../../models/types';
import type { GradRequest } from '../gradients';
import type { NetRuntime, OnnxProvider } from '../load-passes';
import type { ImageRequest } from '../runner';

export interface WorkerInit {
  backend: BackendChoice;
  /** Which runtime runs the networks (see load-passes.ts). */
  runtime: NetRuntime;
  /** Threads in this worker's engine: XNNPACK's (wasm) and onnxruntime's intra-op pool. */
  wasmThreads: number;
  /** onnxruntime's threads for a large network (see sessionThreads in load-passes.ts); absent: wasmThreads. */
  onnxWideThreads?: number;
  /** Most images in one network pass (see batchDirections). */
  microBatch: number;
  /** onnxruntime's execution provider (see load-passes.ts). */
  onnxProvider: OnnxProvider;
  /** Forward-only sessions for models whose weights take at most this many bytes (see PassOptions). */
  forwardMaxBytes?: number;
  specs: ModelSpec[];
  /** Models added at run time (load), each under its key: a worker started later loads them too. */
  added?: Array<{ key: string; spec: ModelSpec }>;
}

export type WorkerTask =
  | { id: number; kind: 'grad'; model: string; reqs: GradRequest[] }
  | { id: number; kind: 'probs'; model: string; reqs: ImageRequest[] }
  | { id: number; kind: 'load'; key: string; spec: ModelSpec }
  | { id: number; kind: 'unload'; key: string };

export type WorkerReply =
  | {
      type: 'ready';
      backend: string;
      wasmThreads: number | null;
      /** onnxruntime's intra-op threads per model that runs there (large networks may get more: sessionThreads). */
      sessionThreads: Record<string, number>;
      /** The models whose probability passes run a forward-only session. */
      forwardSessions: string[];
      specs: ModelSpec[];
      runtimes: Array<'tfjs' | 'onnx'>;
      fallbacks: Record<string, string[]>;
      loadMs: number;
    }
  | { type: 'init-error'; message: string }
  | { type: 'result'; id: number; results: Float32Array[] }
  | { type: 'loaded'; id: number; fallbacks: string[] }
  | { type: 'error'; id: number; message: string };
