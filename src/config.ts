/**
 * Service configuration from environment variables, validated once at start.
 * Every setting has a default so that `npm start` works on a fresh machine.
 */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface Config {
  port: number;
  host: string;
  backend: BackendChoice;
  /**
   * What runs the networks' passes: 'onnx' (onnxruntime-node, native kernels), 'tfjs', or
   * 'auto' (onnx when onnxruntime-node is installed and tfjs is on wasm). See src/engine/load-passes.ts.
   */
  runtime: NetRuntime;
  /** ADVSERVE_ONNX_PROVIDER: where onnxruntime runs the networks, cpu (default), cuda or webgpu (see src/models/onnx/available.ts). */
  onnxProvider: OnnxProvider;
  /** ADVSERVE_BOX_KERNELS (on, off): the attack steps' box arithmetic in one wasm pass each, or as tfjs ops (same bytes; see src/backend/box-kernels.ts). */
  boxKernels: boolean;
  logLevel: string;
  /** Largest request body accepted, bytes (413 beyond). */
  maxBodyBytes: number;
  /** Largest image accepted, pixels (413 beyond), checked from the header before decoding. */
  maxPixels: number;
  /** Largest image an attack takes, pixels (413 beyond), checked from the header before decoding; at most maxPixels applies too. */
  maxAttackPixels: number;
  /** Sum of the pixels of the attacks admitted at once (429 beyond), checked from the header before decoding. */
  maxInflightPixels: number;
  /** Most images in one multi-image upload (POST /v1/defense/evaluate; 413 beyond). */
  maxFiles: number;
  /** Bundled nsfwjs models to load (ids from the model table); ADVSERVE_MODELS set but empty loads none. */
  bundledModels: string[];
  /** Extra model folders, each with a model.json and an advserve.json (labels, input size, range). */
  modelDirs: string[];
  /** ADVSERVE_MODEL_STORE: the folder of models added at run time (POST /v1/models, `advserve models pull`), each as `<store>/<id>/`; loaded at start after the others. */
  modelStore?: string;
  /** Most bytes of one model upload, all files together (413 beyond). */
  modelUploadMaxBytes: number;
  /** Most files in one model upload (413 beyond). */
  modelUploadMaxFiles: number;
  /** How long SIGTERM waits for in-flight attacks before exiting, ms. */
  shutdownGraceMs: number;
  /** Per-request deadline, ms. */
  requestTimeoutMs: number;
  /** How long a client may take to send the request headers, ms (node's server.headersTimeout). */
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open, ms (node's server.keepAliveTimeout). */
  keepAliveTimeoutMs: number;
  /** Gradient worker threads, each with its own copy of the models; 0 computes on the main thread. */
  workers: number;
  /**
   * Threads inside each engine (each worker, or the main thread when workers = 0): XNNPACK's
   * (1 uses tfjs' single-threaded wasm build; more, its threaded build) and onnxruntime's.
   */
  wasmThreads: number;
  /**
   * onnxruntime's threads for a large network's session (at least WIDE_MIN_MACS forward
   * multiply-adds), or for the only model a worker serves (src/engine/load-passes.ts
   * sessionThreads), waiting without spinning; other networks get wasmThreads. Equal to
   * wasmThreads: no network gets more.
   */
  onnxWideThreads: number;
  /** Most images in one network pass inside a worker; bounds its memory (a wasm heap never shrinks). */
  microBatch: number;
  /**
   * Bytes of forward weights up to which a network in onnxruntime also gets a forward-only session
   * for its probability passes (src/models/onnx/forward-only.ts): a third of a gradient pass's
   * time for a second copy of those weights in every worker. 0: none.
   */
  forwardSessionMaxBytes: number;
  /** Most requests batched into one model pass. */
  maxBatch: number;
  /** How long a request may wait for others to fill its batch, ms. */
  batchWaitMs: number;
  /** Attack/classify jobs admitted at once (running or queued); beyond it, 429. */
  maxJobs: number;
  /** ADVSERVE_API_KEYS_FILE, when set; its keys are in apiKeys. */
  apiKeysFile?: string;
  /** The key file's entries (names, scopes, hashes); undefined = no keys, every route open. */
  apiKeys?: ApiKey[];
  /** Requests per rateWindowMs per key (per client IP without keys) on the protected routes; 0 = no limit. */
  rateLimit: number;
  rateWindowMs: number;
  /** Attack/classify/evaluate requests running at once per key (per client IP without keys); 0 = no limit. */
  keyMaxJobs: number;
  /** Worker threads that run defense transforms (POST /v1/defense/evaluate), off the event loop. */
  defenseThreads: number;
  /** Most transforms in one defense's chain (400 beyond). */
  defenseMaxTransforms: number;
  /** Estimated transform work one defense request may take, in work units (~ms of one core; src/defense/cost.ts; 400 beyond). */
  defenseWorkBudget: number;
  /** REDIS_URL: dataset jobs go on a BullMQ queue there for `advserve worker` processes; unset, they run in this process. */
  redisUrl?: string;
  /** Embedded mode: the folder that holds dataset jobs (inputs, results, adversarial images). */
  jobDir: string;
  /** How long a finished or cancelled job's results are kept, seconds. */
  jobTtlSeconds: number;
  /** Job items one process (the service in embedded mode, or a worker) runs at once; their passes share batches. */
  jobConcurrency: number;
  /** Most images in one job (413 beyond). */
  jobMaxImages: number;
  /** Most bytes of one job's upload, images or archive, unpacked (413 beyond). */
  jobMaxBytes: number;
  /** Items one key may have queued or running over all its jobs (429 beyond). */
  jobMaxQueued: number;
  /** BullMQ lock of a running item, ms: a worker that dies holding one loses it this long after, and another worker runs it. */
  jobLockMs: number;
}

import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_WASM_THREADS } from './backend/wasm-threaded';
import { networksInOnnx, ONNX_PROVIDERS, type OnnxProvider } from './models/onnx/available';
import type { NetRuntime } from './engine/load-passes';
import { BUNDLED_MODELS } from './models/table';
import { readKeyFileSync, type ApiKey } from './keys/file';

export class ConfigError extends Error {}

/**
 * Receiving a whole request (headers and body; node's server.requestTimeout) may take the
 * request deadline plus this: the deadline itself is enforced on the work.
 */
export const REQUEST_RECEIVE_MARGIN_MS = 10_000;

/**
 * Most attack pixels that may ever be in flight. Attacks share the main thread's wasm heap, at
 * most 4 GiB, and need about a dozen float copies of their image there (12 bytes a pixel each):
 * 20 MP of attacks was measured to run; past the heap, wasm aborts and the backend is lost for
 * every later request, so no configuration may go there.
 */
export const MAX_INFLIGHT_PIXELS_CEILING = 20_000_000;

const DEFAULT_BUNDLED = ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid'];

/** pino's levels (LOG_LEVEL). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
  }
  return v;
}

function list(env: NodeJS.ProcessEnv, name: string, dflt: string[]): string[] {
  const raw = env[name];
  if (raw === undefined) return dflt;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * What the default split of cores favours when neither ADVSERVE_WORKERS nor
 * ADVSERVE_WASM_THREADS is set (measurements: docs/PERFORMANCE.md).
 * - latency (the service), networks in onnxruntime: the fewest threads per worker that keep
 *   workers at most 4 (2 cores: 2 single-threaded workers; 16: 4 x 4). onnxruntime runs a
 *   MobileNet pass no faster on 2 threads than on 1, and its idle threads spin, so a lone
 *   attack's three models finish sooner spread over single-threaded workers (the scheduler sends
 *   each model's batch to a free worker) than queued on one threaded worker; 4 bounds memory
 *   (each worker holds every model, ~1.3 GB for the bundled three).
 *   A large network's session may take twice its worker's share (onnxWideThreads, threads that
 *   do not spin): a lone attack's InceptionV3 pass then uses the core the other worker leaves idle.
 * - latency, networks in tfjs: workers of up to 4 threads each (XNNPACK), threads first.
 * - throughput (batch jobs such as `advserve eval`): one single-threaded worker per core.
 */
export type CorePlan = 'latency' | 'throughput';

const MAX_LATENCY_THREADS = 4;
const MAX_DEFAULT_ONNX_WORKERS = 4;

function coreSplit(env: NodeJS.ProcessEnv, plan: CorePlan, cores: number, onnxNets: boolean): { workers: number; wasmThreads: number; onnxWideThreads: number } {
  const setWorkers = env.ADVSERVE_WORKERS !== undefined && env.ADVSERVE_WORKERS !== '';
  const setThreads = env.ADVSERVE_WASM_THREADS !== undefined && env.ADVSERVE_WASM_THREADS !== '';
  let defaultThreads = 1;
  if (!setWorkers && plan === 'latency') {
    defaultThreads = onnxNets ? Math.ceil(cores / MAX_DEFAULT_ONNX_WORKERS) : Math.min(cores, MAX_LATENCY_THREADS);
    defaultThreads = Math.min(defaultThreads, MAX_WASM_THREADS);
  }
  const wasmThreads = int(env, 'ADVSERVE_WASM_THREADS', defaultThreads, 1, MAX_WASM_THREADS);
  const defaultWorkers = setThreads || plan === 'latency' ? Math.max(1, Math.floor(cores / wasmThreads)) : cores;
  // Latency, networks in onnxruntime, the default split: a large network's pass may take twice its
  // worker's share of the cores (at most all of them) while the others' are idle.
  const defaultWide = plan === 'latency' && onnxNets && !setWorkers && !setThreads ? Math.min(cores, 2 * wasmThreads) : wasmThreads;
  const onnxWideThreads = int(env, 'ADVSERVE_ONNX_WIDE_THREADS', defaultWide, 1, 64);
  return { workers: int(env, 'ADVSERVE_WORKERS', defaultWorkers, 0, 64), wasmThreads, onnxWideThreads: Math.max(onnxWideThreads, wasmThreads) };
}

/**
 * On WebGPU, at most one worker: sessions in two worker threads crash onnxruntime 1.30's WebGPU
 * provider (SIGSEGV), while one worker or the in-process runner work (docs/PERFORMANCE.md,
 * seventh round). Unset, the workers default to 1; more, asked for, is refused.
 */
function gpuSplit<T extends { workers: number }>(env: NodeJS.ProcessEnv, provider: OnnxProvider, split: T): T {
  if (provider !== 'webgpu' || split.workers <= 1) return split;
  if (env.ADVSERVE_WORKERS !== undefined && env.ADVSERVE_WORKERS !== '') {
    throw new ConfigError(`ADVSERVE_ONNX_PROVIDER=webgpu runs in at most one worker (sessions in two crash onnxruntime 1.30); got ADVSERVE_WORKERS=${split.workers}`);
  }
  return { ...split, workers: 1 };
}

/** ADVSERVE_API_KEYS_FILE read and checked now, so that a bad file stops the start (naming the line). */
function apiKeys(env: NodeJS.ProcessEnv): Pick<Config, 'apiKeysFile' | 'apiKeys'> {
  const file = env.ADVSERVE_API_KEYS_FILE;
  if (file === undefined || file === '') return {};
  try {
    return { apiKeysFile: file, apiKeys: readKeyFileSync(file) };
  } catch (err) {
    throw new ConfigError(`ADVSERVE_API_KEYS_FILE: ${(err as Error).message}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, plan: CorePlan = 'latency', cores = availableParallelism()): Config {
  const backend = (env.ADVSERVE_BACKEND ?? 'auto') as BackendChoice;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) {
    throw new ConfigError(`ADVSERVE_BACKEND must be one of auto, tensorflow, wasm, cpu; got "${backend}"`);
  }
  const runtime = (env.ADVSERVE_RUNTIME || 'auto') as NetRuntime;
  if (!['auto', 'onnx', 'tfjs'].includes(runtime)) {
    throw new ConfigError(`ADVSERVE_RUNTIME must be one of auto, onnx, tfjs; got "${runtime}"`);
  }
  const onnxProvider = (env.ADVSERVE_ONNX_PROVIDER || 'cpu') as OnnxProvider;
  if (!ONNX_PROVIDERS.includes(onnxProvider)) {
    throw new ConfigError(`ADVSERVE_ONNX_PROVIDER must be one of ${ONNX_PROVIDERS.join(', ')}; got "${onnxProvider}"`);
  }
  // ADVSERVE_MODELS unset: the three bundled models; set but empty: none of them.
  const bundledModels = list(env, 'ADVSERVE_MODELS', DEFAULT_BUNDLED);
  const known = BUNDLED_MODELS.map((m) => m.id);
  const unknownIds = bundledModels.filter((id) => !known.includes(id));
  if (unknownIds.length > 0) {
    throw new ConfigError(
      `ADVSERVE_MODELS names ${unknownIds.map((id) => `"${id}"`).join(', ')}, not ${unknownIds.length > 1 ? 'bundled models' : 'a bundled model'} (bundled: ${known.join(', ')}; put your own models' folders in ADVSERVE_MODEL_DIRS)`,
    );
  }
  const modelDirs = list(env, 'ADVSERVE_MODEL_DIRS', []);
  if (bundledModels.length === 0 && modelDirs.length === 0) {
    throw new ConfigError('no models configured: ADVSERVE_MODELS is empty and ADVSERVE_MODEL_DIRS names no folder (unset ADVSERVE_MODELS for the bundled models, or give model folders)');
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}"`);
  const requestTimeoutMs = int(env, 'ADVSERVE_REQUEST_TIMEOUT_MS', 300_000, 1000, 3_600_000);
  const headersTimeoutMs = int(env, 'ADVSERVE_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000);
  if (headersTimeoutMs > requestTimeoutMs + REQUEST_RECEIVE_MARGIN_MS) {
    throw new ConfigError(`ADVSERVE_HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must be at most ADVSERVE_REQUEST_TIMEOUT_MS + ${REQUEST_RECEIVE_MARGIN_MS} (${requestTimeoutMs + REQUEST_RECEIVE_MARGIN_MS})`);
  }
  const maxAttackPixels = int(env, 'ADVSERVE_MAX_ATTACK_PIXELS', 4_194_304, 1, MAX_INFLIGHT_PIXELS_CEILING);
  const maxInflightPixels = int(env, 'ADVSERVE_MAX_INFLIGHT_PIXELS', Math.min(2 * maxAttackPixels, MAX_INFLIGHT_PIXELS_CEILING), 1, MAX_INFLIGHT_PIXELS_CEILING);
  if (maxInflightPixels < maxAttackPixels) {
    throw new ConfigError(`ADVSERVE_MAX_INFLIGHT_PIXELS (${maxInflightPixels}) must be at least ADVSERVE_MAX_ATTACK_PIXELS (${maxAttackPixels}), or the largest attack could never run`);
  }
  if (env.HOST === '') throw new ConfigError('HOST is set but empty; unset it to listen on 0.0.0.0');
  const boxKernels = env.ADVSERVE_BOX_KERNELS ?? 'on';
  if (boxKernels !== 'on' && boxKernels !== 'off') throw new ConfigError(`ADVSERVE_BOX_KERNELS must be on or off; got "${boxKernels}"`);
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    backend,
    runtime,
    onnxProvider,
    boxKernels: boxKernels === 'on',
    logLevel,
    maxBodyBytes: int(env, 'ADVSERVE_MAX_BODY_BYTES', 20 * 1024 * 1024, 1024, 2 ** 31),
    maxPixels: int(env, 'ADVSERVE_MAX_PIXELS', 25_000_000, 1, 2 ** 31),
    maxAttackPixels,
    maxInflightPixels,
    maxFiles: int(env, 'ADVSERVE_MAX_FILES', 64, 1, 10_000),
    bundledModels,
    modelDirs,
    ...(env.ADVSERVE_MODEL_STORE ? { modelStore: env.ADVSERVE_MODEL_STORE } : {}),
    modelUploadMaxBytes: int(env, 'ADVSERVE_MODEL_UPLOAD_MAX_BYTES', 200 * 1024 * 1024, 1024, 2 ** 40),
    modelUploadMaxFiles: int(env, 'ADVSERVE_MODEL_UPLOAD_MAX_FILES', 256, 1, 100_000),
    shutdownGraceMs: int(env, 'ADVSERVE_SHUTDOWN_GRACE_MS', 60_000, 0, 3_600_000),
    requestTimeoutMs,
    headersTimeoutMs,
    keepAliveTimeoutMs: int(env, 'ADVSERVE_KEEPALIVE_TIMEOUT_MS', 5_000, 1, 600_000),
    ...gpuSplit(env, onnxProvider, coreSplit(env, plan, cores, networksInOnnx(runtime, backend))),
    microBatch: int(env, 'ADVSERVE_MICRO_BATCH', 2, 1, 256),
    forwardSessionMaxBytes: int(env, 'ADVSERVE_FORWARD_SESSION_MAX_MB', 32, 0, 1_000_000) * 1024 * 1024,
    maxBatch: int(env, 'ADVSERVE_MAX_BATCH', 8, 1, 256),
    batchWaitMs: int(env, 'ADVSERVE_BATCH_WAIT_MS', 0, 0, 10_000),
    maxJobs: int(env, 'ADVSERVE_MAX_JOBS', 64, 1, 100_000),
    ...apiKeys(env),
    rateLimit: int(env, 'ADVSERVE_RATE_LIMIT', 0, 0, 1_000_000),
    rateWindowMs: int(env, 'ADVSERVE_RATE_WINDOW_MS', 60_000, 1000, 86_400_000),
    keyMaxJobs: int(env, 'ADVSERVE_KEY_MAX_JOBS', 0, 0, 100_000),
    defenseThreads: int(env, 'ADVSERVE_DEFENSE_THREADS', 1, 1, 64),
    defenseMaxTransforms: int(env, 'ADVSERVE_DEFENSE_MAX_TRANSFORMS', 4, 1, 64),
    defenseWorkBudget: int(env, 'ADVSERVE_DEFENSE_WORK_BUDGET', 60_000, 1, 2 ** 31),
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    jobDir: env.ADVSERVE_JOB_DIR || join(tmpdir(), 'advserve-jobs'),
    jobTtlSeconds: int(env, 'ADVSERVE_JOB_TTL', 86_400, 1, 365 * 86_400),
    jobConcurrency: int(env, 'ADVSERVE_JOB_CONCURRENCY', 4, 1, 256),
    jobMaxImages: int(env, 'ADVSERVE_JOB_MAX_IMAGES', 1000, 1, 1_000_000),
    jobMaxBytes: int(env, 'ADVSERVE_JOB_MAX_BYTES', 200 * 1024 * 1024, 1024, 2 ** 40),
    jobMaxQueued: int(env, 'ADVSERVE_JOB_MAX_QUEUED', 10_000, 1, 10_000_000),
    jobLockMs: int(env, 'ADVSERVE_JOB_LOCK_MS', 30_000, 500, 3_600_000),
  };
}
