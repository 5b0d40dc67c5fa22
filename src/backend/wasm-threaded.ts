/**
 * tfjs' threaded-SIMD wasm build (XNNPACK on a pthreadpool) in Node.
 *
 * tfjs ships the build but never uses it in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag says
 * false there (tfjs issue 3830), and its loader hands Emscripten the pthread worker script as a
 * blob: URL, which Node's worker_threads cannot start. The Emscripten output itself supports
 * Node (its pthreads are worker_threads), so we load it ourselves: the worker script goes to a
 * real file, the factory gets plain paths, and the result is registered as the 'wasm' backend,
 * so every wasm kernel (and our gradient code) runs on it unchanged.
 *
 * One more catch: the C side caps the pool at `logical cores / 2` (it assumes 2 hyperthreads a
 * core), which is 1 on a 2-core machine. It reads the core count once, during start-up, through
 * `require('os').cpus()`, so we report the wanted number of threads x 2 for that moment.
 */
import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';

/** XNNPACK's pthreadpool is built with 8 pre-started workers; more is not possible. */
export const MAX_WASM_THREADS = 8;

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  [k: string]: unknown;
}

function wasmOutDir(): string {
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
}

/**
 * Writes the pthread worker script to a file Node can start (tfjs keeps it as a string). The
 * name is the content's hash, so every process and worker shares one file and none piles up;
 * it is written under a unique name and renamed into place, so concurrent writers never expose
 * a half-written file.
 */
function writeWorkerScript(dir: string): string {
  const { wasmWorkerContents } = require(join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The string sits in a JS template literal, which turned its "\n" escapes into newlines; put
  // them back (tfjs does the same before making its Blob).
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const path = join(tmpdir(), `advserve-tfjs-wasm-pthread-${hash}.js`);
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}.${threadId}.tmp`;
    writeFileSync(partial, source);
    renameSync(partial, path);
  }
  return path;
}

async function loadThreadedModule(threads: number): Promise<EmscriptenModule> {
  const dir = wasmOutDir();
  const factoryPath = join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const workerPath = writeWorkerScript(dir);
  const factory = require(factoryPath) as (cfg: object) => Promise<EmscriptenModule>;
  const os = require('node:os') as typeof import('node:os');
  const cpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * threads }, () => cpus()[0]);
  try {
    return await factory({
      locateFile: (path: string, prefix: string) =>
        path.endsWith('.worker.js') ? workerPath
        : path.endsWith('.wasm') ? join(dir, 'tfjs-backend-wasm-threaded-simd.wasm')
        : prefix + path,
      // Each pthread worker evaluates this file to get the factory.
      mainScriptUrlOrBlob: factoryPath,
    });
  } finally {
    os.cpus = cpus;
  }
}

/** Whether this thread's tfjs has already started a 'wasm' backend (tensors may live on it). */
function wasmStarted(): boolean {
  return 'wasm' in (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
}

/**
 * Registers the threaded build as tfjs' 'wasm' backend with `threads` XNNPACK threads (the
 * calling thread is one of them), before tf.setBackend('wasm'). Where a wasm backend is already
 * running on this thread (a second engine in one process: tests, the CLI) it is kept as it is:
 * replacing it would free the memory under every tensor made so far. Returns whether the
 * threaded build was registered.
 *
 * Its pthreads keep the Node event loop alive, so a process that computes on its main thread
 * with it must end with process.exit (the CLI and the server do); in a worker thread,
 * terminating the worker ends them.
 */
export function registerThreadedWasm(threads: number): boolean {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_WASM_THREADS) {
    throw new Error(`wasm threads must be an integer in [2, ${MAX_WASM_THREADS}], got ${threads}`);
  }
  if (wasmStarted()) return false;
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const module = await loadThreadedModule(threads);
      // The same bridge tfjs' own init() builds.
      module.tfjs = {
        init: module.cwrap('init', null, []),
        initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
        getThreadsCount: module.cwrap('get_threads_count', 'number', []),
        registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
        disposeData: module.cwrap('dispose_data', null, ['number']),
        dispose: module.cwrap('dispose', null, []),
      };
      wasm.setThreadsCount(threads);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return new wasm.BackendWasm(module as any);
    },
    2,
  );
  return true;
}
