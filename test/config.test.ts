/** How the service splits cores between gradient workers and XNNPACK threads by default. */
import t from 'tap';
import { ConfigError, loadConfig } from '../src/config';
import { networksInOnnx } from '../src/models/onnx/available';

const split = (env: NodeJS.ProcessEnv, plan: 'latency' | 'throughput', cores: number) => {
  const c = loadConfig(env, plan, cores);
  return [c.workers, c.wasmThreads];
};

t.test('latency plan (the service), networks in tfjs: threads first, up to 4 a worker', async (t) => {
  const split = (env: NodeJS.ProcessEnv, plan: 'latency' | 'throughput', cores: number) => {
    const c = loadConfig({ ADVSERVE_RUNTIME: 'tfjs', ...env }, plan, cores);
    return [c.workers, c.wasmThreads];
  };
  t.same(split({}, 'latency', 1), [1, 1], '1 core: one single-threaded worker');
  t.same(split({}, 'latency', 2), [1, 2], '2 cores: one worker, 2 threads');
  t.same(split({}, 'latency', 16), [4, 4], '16 cores: 4 workers of 4 threads');
  t.same(split({}, 'latency', 6), [1, 4], '6 cores: 4 threads, one worker (floor)');
});

t.test('latency plan, networks in onnxruntime: the fewest threads that keep workers at most 4', async (t) => {
  const onnx = { ADVSERVE_RUNTIME: 'onnx' };
  t.same(split(onnx, 'latency', 1), [1, 1], '1 core');
  t.same(split(onnx, 'latency', 2), [2, 1], '2 cores: two single-threaded workers');
  t.same(split(onnx, 'latency', 6), [3, 2], '6 cores: 3 workers of 2 threads');
  t.same(split(onnx, 'latency', 16), [4, 4], '16 cores: 4 workers of 4 threads');
  t.same(split(onnx, 'latency', 64), [8, 8], '64 cores: threads capped at 8 (the pre-started pthreads)');
  t.same(split({ ADVSERVE_RUNTIME: 'onnx', ADVSERVE_WASM_THREADS: '2' }, 'latency', 2), [1, 2], 'threads set: cores / threads workers');
});

t.test("a large network's onnxruntime threads: twice a worker's share on the default latency split, else the worker's", async (t) => {
  const wide = (env: NodeJS.ProcessEnv, plan: 'latency' | 'throughput', cores: number) => loadConfig({ ADVSERVE_RUNTIME: 'onnx', ...env }, plan, cores).onnxWideThreads;
  t.equal(wide({}, 'latency', 2), 2, '2 cores: 2 (single-threaded workers)');
  t.equal(wide({}, 'latency', 1), 1, '1 core: 1');
  t.equal(wide({}, 'latency', 16), 8, '16 cores: 8 (workers of 4)');
  t.equal(wide({}, 'throughput', 2), 1, 'throughput plan: the worker share');
  t.equal(wide({ ADVSERVE_RUNTIME: 'tfjs' }, 'latency', 2), 2, 'networks in tfjs: the share (one worker of 2 threads)');
  t.equal(wide({ ADVSERVE_WORKERS: '2' }, 'latency', 2), 1, 'a split set by hand: the share');
  t.equal(wide({ ADVSERVE_ONNX_WIDE_THREADS: '1' }, 'latency', 2), 1, 'set: off');
  t.equal(wide({ ADVSERVE_ONNX_WIDE_THREADS: '4', ADVSERVE_WORKERS: '2' }, 'latency', 2), 4, 'set: wins');
  t.equal(wide({ ADVSERVE_ONNX_WIDE_THREADS: '1', ADVSERVE_WASM_THREADS: '2' }, 'latency', 2), 2, 'never below the worker share');
  t.throws(() => loadConfig({ ADVSERVE_ONNX_WIDE_THREADS: '0' }), /ADVSERVE_ONNX_WIDE_THREADS must be an integer in \[1, 64\]/);
});

t.test('whether the networks run in onnxruntime', async (t) => {
  const has = () => true;
  const hasNot = () => false;
  t.equal(networksInOnnx('auto', 'auto', has), true);
  t.equal(networksInOnnx('auto', 'wasm', has), true);
  t.equal(networksInOnnx('auto', 'auto', hasNot), false, 'onnxruntime-node missing');
  t.equal(networksInOnnx('auto', 'tensorflow', has), false, 'native tfjs runs the networks itself');
  t.equal(networksInOnnx('tfjs', 'wasm', has), false);
  t.equal(networksInOnnx('onnx', 'cpu', hasNot), true, 'asked for: load-passes fails loudly if missing');
});

t.test('throughput plan (eval): one single-threaded worker per core', async (t) => {
  t.same(split({}, 'throughput', 2), [2, 1]);
  t.same(split({}, 'throughput', 16), [16, 1]);
});

t.test('explicit settings win; the other one follows from the cores', async (t) => {
  t.same(split({ ADVSERVE_WORKERS: '2' }, 'latency', 2), [2, 1], 'workers set: single-threaded workers');
  t.same(split({ ADVSERVE_WASM_THREADS: '2' }, 'throughput', 4), [2, 2], 'threads set: cores / threads workers');
  t.same(split({ ADVSERVE_WORKERS: '0', ADVSERVE_WASM_THREADS: '2' }, 'latency', 2), [0, 2], 'in-process, threaded');
  const error = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(env);
    } catch (err) {
      return err;
    }
    return undefined;
  };
  const tooMany = error({ ADVSERVE_WASM_THREADS: '9' });
  t.type(tooMany, ConfigError, 'more than the 8 pre-started pthreads');
  t.match((tooMany as Error).message, /ADVSERVE_WASM_THREADS must be an integer in \[1, 8\]/);
  t.type(error({ ADVSERVE_MICRO_BATCH: '0' }), ConfigError);
});

t.test('ADVSERVE_FORWARD_SESSION_MAX_MB: 32 MiB by default, 0 for none, in bytes', async (t) => {
  t.equal(loadConfig({}).forwardSessionMaxBytes, 32 * 1024 * 1024);
  t.equal(loadConfig({ ADVSERVE_FORWARD_SESSION_MAX_MB: '0' }).forwardSessionMaxBytes, 0);
  t.equal(loadConfig({ ADVSERVE_FORWARD_SESSION_MAX_MB: '100' }).forwardSessionMaxBytes, 100 * 1024 * 1024);
  t.throws(() => loadConfig({ ADVSERVE_FORWARD_SESSION_MAX_MB: '-1' }), /ADVSERVE_FORWARD_SESSION_MAX_MB must be an integer/);
});

t.test('ADVSERVE_ONNX_PROVIDER: cpu by default, cuda, webgpu, anything else refused', async (t) => {
  t.equal(loadConfig({}).onnxProvider, 'cpu');
  t.equal(loadConfig({ ADVSERVE_ONNX_PROVIDER: 'cuda' }).onnxProvider, 'cuda');
  t.equal(loadConfig({ ADVSERVE_ONNX_PROVIDER: 'webgpu' }).onnxProvider, 'webgpu');
  // WebGPU: one worker by default whatever the cores, in-process allowed, more refused.
  t.equal(loadConfig({ ADVSERVE_ONNX_PROVIDER: 'webgpu' }, 'latency', 16).workers, 1);
  t.equal(loadConfig({ ADVSERVE_ONNX_PROVIDER: 'webgpu' }, 'throughput', 16).workers, 1);
  t.equal(loadConfig({ ADVSERVE_ONNX_PROVIDER: 'webgpu', ADVSERVE_WORKERS: '0' }, 'latency', 16).workers, 0);
  t.throws(() => loadConfig({ ADVSERVE_ONNX_PROVIDER: 'webgpu', ADVSERVE_WORKERS: '2' }), /ADVSERVE_ONNX_PROVIDER=webgpu runs in at most one worker .*ADVSERVE_WORKERS=2/);
  t.equal(loadConfig({ ADVSERVE_ONNX_PROVIDER: 'cpu' }, 'latency', 16).workers, 4, 'the CPU provider keeps its split');
  t.throws(() => loadConfig({ ADVSERVE_ONNX_PROVIDER: 'gpu' }), /ADVSERVE_ONNX_PROVIDER must be one of cpu, cuda, webgpu; got "gpu"/);
});

t.test('ADVSERVE_RUNTIME: auto by default, onnx or tfjs, anything else refused', async (t) => {
  t.equal(loadConfig({}).runtime, 'auto');
  t.equal(loadConfig({ ADVSERVE_RUNTIME: 'tfjs' }).runtime, 'tfjs');
  t.equal(loadConfig({ ADVSERVE_RUNTIME: 'onnx' }).runtime, 'onnx');
  t.throws(() => loadConfig({ ADVSERVE_RUNTIME: 'torch' }), /ADVSERVE_RUNTIME must be one of auto, onnx, tfjs; got "torch"/);
});

t.test('ADVSERVE_MODELS: unset loads the bundled three, set but empty loads none', async (t) => {
  t.same(loadConfig({}).bundledModels, ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid']);
  t.same(loadConfig({ ADVSERVE_MODELS: 'mobilenet_v2, inception_v3' }).bundledModels, ['mobilenet_v2', 'inception_v3']);
  const own = loadConfig({ ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: '/models/a,/models/b' });
  t.same(own.bundledModels, [], 'empty: no bundled model');
  t.same(own.modelDirs, ['/models/a', '/models/b']);
  t.same(loadConfig({ ADVSERVE_MODELS: ' , ', ADVSERVE_MODEL_DIRS: '/m' }).bundledModels, [], 'only separators: none');
  for (const env of [{ ADVSERVE_MODELS: '' }, { ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: '' }, { ADVSERVE_MODELS: ',', ADVSERVE_MODEL_DIRS: ' ' }]) {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    t.type(err, ConfigError, `${JSON.stringify(env)}: refused`);
    t.match((err as Error)?.message, /no models configured: ADVSERVE_MODELS is empty and ADVSERVE_MODEL_DIRS names no folder/);
  }
});

t.test('the start fails clearly with no models at all (the service exits 2 with the message)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const bin = join(__dirname, '..', 'bin', 'advserve.js');
  const env = { ...process.env, ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: '', PORT: '0' };
  const run = spawnSync(process.execPath, [bin, 'serve'], { env, encoding: 'utf8', timeout: 60_000 });
  t.equal(run.status, 2, run.stderr);
  t.match(run.stderr, /configuration error: no models configured/);
});
