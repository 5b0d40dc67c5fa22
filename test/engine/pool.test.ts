/**
 * The worker pool is the service's default runner: the same attack through a worker thread and
 * in-process gives the same bytes, and a worker that dies fails its batch without taking the
 * service down.
 */
import t from 'tap';
import { loadConfig } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import type { AttackParams } from '../../src/engine/types';
import { WorkerPool } from '../../src/engine/pool/pool';
import { bundledSpecs } from '../../src/models/registry';
import { tinyImage } from '../support/tiny';

const log = { info: () => {}, warn: () => {}, error: () => {} };
const config = (workers: number, runtime: 'tfjs' | 'onnx' = 'tfjs') => ({ ...loadConfig({ ADVSERVE_BACKEND: 'wasm' }), bundledModels: ['mobilenet_v2'], workers, wasmThreads: 1, runtime });

for (const runtime of ['tfjs', 'onnx'] as const) {
  t.test(`${runtime}: an attack through the worker pool equals the in-process one, byte for byte`, async (t) => {
    const image = tinyImage(64, 48, 9);
    const params: AttackParams = { method: 'mi-fgsm', di: true, ti: 3, eps: 8, iterations: 4, targeted: true, target: 0, seed: 3 };
    const local = await createEngine(config(0, runtime), log);
    const a = await local.attack(image, params);
    await local.dispose();
    const pooled = await createEngine(config(2, runtime), log);
    t.teardown(() => pooled.dispose());
    t.equal(pooled.runner.slots, 2, 'two workers');
    t.equal(pooled.backend, runtime === 'onnx' ? 'onnxruntime' : 'wasm', 'the runtime asked for');
    const b = await pooled.attack(image, params);
    t.same(Buffer.from(b.image.rgb), Buffer.from(a.image.rgb), 'same bytes');
    t.equal(b.linf, a.linf);
  });
}

t.test('a worker with 2 engine threads (threaded wasm build, or onnxruntime) gives the same bytes as 1 thread', async (t) => {
  const image = tinyImage(64, 48, 5);
  const params: AttackParams = { method: 'mng-l1', eps: 8, iterations: 3, targeted: true, target: 4 };
  for (const runtime of ['tfjs', 'onnx'] as const) {
    const local = await createEngine(config(0, runtime), log);
    const a = await local.attack(image, params);
    await local.dispose();
    const threaded = await createEngine({ ...config(1, runtime), wasmThreads: 2 }, log);
    t.equal((threaded.runner as WorkerPool).wasmThreads, 2, `${runtime}: the worker reports 2 threads`);
    const b = await threaded.attack(image, params);
    await threaded.dispose();
    t.same(Buffer.from(b.image.rgb), Buffer.from(a.image.rgb), `${runtime}: same bytes as with one thread`);
  }
});

t.test("onnx through workers: a large network's session gets the wide threads, a small one the worker's", async (t) => {
  const pool = await WorkerPool.start(1, 'wasm', bundledSpecs(['inception_v3', 'mobilenet_v2']), { info: () => {}, error: () => {} }, { runtime: 'onnx', wasmThreads: 1, onnxWideThreads: 2 });
  t.teardown(() => pool.dispose());
  t.same(pool.sessionThreads, { inception_v3: 2, mobilenet_v2: 1 });
});

t.test('onnx through workers: a forward-only session for each network whose forward weights fit ADVSERVE_FORWARD_SESSION_MAX_MB', async (t) => {
  const specs = bundledSpecs(['inception_v3', 'mobilenet_v2']);
  for (const [forwardMaxBytes, want] of [[32 * 1024 * 1024, ['mobilenet_v2']], [0, []]] as const) {
    const pool = await WorkerPool.start(1, 'wasm', specs, { info: () => {}, error: () => {} }, { runtime: 'onnx', wasmThreads: 1, forwardMaxBytes });
    t.same(pool.forwardSessions, want, `${forwardMaxBytes / 2 ** 20} MiB: ${want.join(', ') || 'none'} (InceptionV3's 85 MiB exceed it)`);
    await pool.dispose();
  }
});

t.test('onnx through workers: the only model a worker serves gets the wide threads, however small', async (t) => {
  const pool = await WorkerPool.start(1, 'wasm', bundledSpecs(['mobilenet_v2']), { info: () => {}, error: () => {} }, { runtime: 'onnx', wasmThreads: 1, onnxWideThreads: 2 });
  t.teardown(() => pool.dispose());
  t.same(pool.sessionThreads, { mobilenet_v2: 2 });
});

t.test('onnx: probabilities from forward-only sessions equal the gradient graph\'s, in workers and in-process', async (t) => {
  const image = tinyImage(64, 48, 21);
  const params: AttackParams = { method: 'mng-l1', eps: 8, iterations: 2, targeted: true, target: 2 };
  const results = [];
  for (const [workers, forwardSessionMaxBytes] of [[1, 0], [1, 1 << 30], [0, 1 << 30]]) {
    const engine = await createEngine({ ...config(workers, 'onnx'), forwardSessionMaxBytes }, log);
    const classified = await engine.classify(image, { topK: 5 });
    const attacked = await engine.attack(image, params);
    await engine.dispose();
    results.push({ classified, before: attacked.models[0].before, after: attacked.models[0].after, image: Buffer.from(attacked.image.rgb) });
  }
  for (const [i, what] of ['a worker with forward sessions', 'in-process with forward sessions'].entries()) {
    t.same(results[i + 1].classified, results[0].classified, `${what}: the same classification as from the gradient graph`);
    t.same([results[i + 1].before, results[i + 1].after], [results[0].before, results[0].after], `${what}: the same verdicts before and after the attack`);
    t.ok(results[i + 1].image.equals(results[0].image), `${what}: the same attacked bytes`);
  }
});

t.test('a worker that dies fails its batch; a replacement takes over', async (t) => {
  const pool = await WorkerPool.start(1, 'wasm', bundledSpecs(['mobilenet_v2']), { info: () => {}, error: () => {} });
  t.teardown(() => pool.dispose());
  const req = { image: new Float32Array(32 * 32 * 3).fill(100), height: 32, width: 32, cls: 1, towards: true };
  const worker = (pool as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }).workers[0].worker;
  const inFlight = pool.directions('mobilenet_v2', [req]);
  await worker.terminate();
  await t.rejects(inFlight, /gradient worker exited/);
  // The replacement loads the models again (about a second), then serves.
  for (let i = 0; i < 100 && pool.slots === 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(pool.slots, 1, 'replaced');
  const [g] = await pool.directions('mobilenet_v2', [req]);
  t.equal(g.length, 32 * 32 * 3);
});

t.test("onnx through workers: the step buffers a job reuses (shared with the workers) change no result", async (t) => {
  const pooled = await createEngine(config(2, 'onnx'), log);
  t.teardown(() => pooled.dispose());
  const image = tinyImage(40, 32, 4);
  const params = (target: number): AttackParams => ({ method: 'mng-l1', eps: 8, iterations: 4, targeted: true, target });
  const alone = await pooled.attack(image, params(0));
  // With progress, every step's pass writes probabilities into the job's buffers too.
  const reports: number[] = [];
  const watched = await pooled.attack(image, { ...params(0), onProgress: (p) => reports.push(p.ensemble.prob) });
  t.same(Buffer.from(watched.image.rgb), Buffer.from(alone.image.rgb), 'progress reports change no byte');
  t.equal(reports.length, 5, 'a report per step and the last');
  const clean = await pooled.classify(image, { topK: 1 });
  // The model's own 'before' (the ensemble's is a mean computed at step 0, a copy either way).
  const before = watched.models[0].before;
  t.equal(before.label, clean.models[0].top[0].label, "the model's 'before' is the clean prediction");
  t.ok(Math.abs(before.prob - clean.models[0].top[0].prob) < 1e-5, `and its probability (${before.prob} vs ${clean.models[0].top[0].prob}), not a later step's`);
  t.ok(Math.abs(reports[4] - reports[0]) > 1e-3, `the later steps did see other probabilities (${reports[0]} -> ${reports[4]})`);

  // Methods with probes (si-fgsm, vmi-fgsm) send fresh buffers for them beside the step's shared one.
  const jobs: AttackParams[] = [params(0), { ...params(1), method: 'vmi-fgsm' }, { ...params(2), method: 'si-fgsm' }, { ...params(3), method: 'mi-fgsm', di: true, seed: 2 }];
  const separately: Awaited<ReturnType<typeof pooled.attack>>[] = [];
  for (const job of jobs) separately.push(await pooled.attack(image, job));
  const together = await Promise.all(jobs.map((job) => pooled.attack(image, job)));
  jobs.forEach((job, i) => t.same(Buffer.from(together[i].image.rgb), Buffer.from(separately[i].image.rgb), `${job.method}: the same bytes alone and among 4 concurrent jobs`));
});
