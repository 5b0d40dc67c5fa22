/**
 * Chooses the tfjs backend. `auto` prefers the native TensorFlow bindings when the host has
 * them installed (GPU first), and otherwise uses wasm, which installs from npm alone. The
 * native packages are optional: nothing in install or test needs them.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../config';
import { registerThreadedWasm } from './wasm-threaded';
import { loadBoxKernels, useBoxKernels } from './box-kernels';

export class BackendError extends Error {}

function tryRequire(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

export interface BackendOptions {
  /** XNNPACK threads for wasm (1: tfjs' single-threaded build; more: its threaded build, see wasm-threaded.ts). */
  wasmThreads?: number;
  /** Load the attack steps' box kernels (./box-kernels) on wasm; default true. The gradient workers, which take no steps, leave them out. */
  boxKernels?: boolean;
}

async function useWasm(threads: number, boxKernels: boolean): Promise<string> {
  require('@tensorflow/tfjs-backend-wasm');
  if (threads > 1) registerThreadedWasm(threads);
  if (!(await tf.setBackend('wasm'))) throw new BackendError('the wasm backend failed to initialise');
  useBoxKernels(boxKernels);
  if (boxKernels) await loadBoxKernels();
  return 'wasm';
}

/** XNNPACK threads the wasm backend actually runs (1 for the single-threaded build; null off wasm). */
export function wasmThreadCount(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  return (require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm')).getThreadsCount();
}

export async function initBackend(choice: BackendChoice, options: BackendOptions = {}): Promise<string> {
  if (choice === 'tensorflow' || choice === 'auto') {
    // tfjs-node registers the 'tensorflow' backend on import.
    const native = tryRequire('@tensorflow/tfjs-node-gpu') || tryRequire('@tensorflow/tfjs-node');
    if (native && (await tf.setBackend('tensorflow'))) {
      await tf.ready();
      return 'tensorflow';
    }
    if (choice === 'tensorflow') {
      throw new BackendError(
        'ADVSERVE_BACKEND=tensorflow but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed ' +
          '(install one on a host that can download libtensorflow, or use ADVSERVE_BACKEND=wasm)',
      );
    }
  }
  if (choice === 'cpu') {
    await tf.setBackend('cpu');
    await tf.ready();
    return 'cpu';
  }
  const name = await useWasm(options.wasmThreads ?? 1, options.boxKernels ?? true);
  await tf.ready();
  return name;
}
