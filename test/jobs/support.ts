/**
 * Shared set-up of the dataset job tests: two tiny ONNX classifiers in model folders (loaded by
 * the test's own engine and by spawned `advserve worker`s alike), small PNG images, the job
 * requests, and the `advserve eval` report (runEval) of the same images and settings to compare with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import request from 'supertest';
import type { Server } from 'node:http';
import { buildApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { parseDefenseList } from '../../src/defense/parse';
import { createEngine } from '../../src/engine/bootstrap';
import type { Engine } from '../../src/engine/engine';
import { parseMethodList } from '../../src/eval/methods';
import { runEval, type EvalReport } from '../../src/eval/run';
import { decodeImage } from '../../src/images/decode';
import { encodePng } from '../../src/images/encode';
import { BIN } from '../support/serve';
import { tinyImage } from '../support/tiny';
import { onnxSpec, quiet, tinyOnnx } from '../models/registry-support';

export function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Two 3-class tiny models, `net_a` and `net_b`, each in its own folder. */
export function modelDirs(t: Test): string[] {
  return [['net_a', 1], ['net_b', 7]].map(([id, seed]) => {
    const dir = tempDir(t, `advserve-${id}-`);
    writeFileSync(join(dir, 'model.onnx'), tinyOnnx(seed as number));
    writeFileSync(join(dir, 'advserve.json'), onnxSpec(id as string));
    return dir;
  });
}

/** The environment that makes `advserve worker` (or serve) load exactly what the test's engine loads. */
export function modelEnv(dirs: string[]): NodeJS.ProcessEnv {
  return { ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: dirs.join(','), ADVSERVE_BACKEND: 'wasm', ADVSERVE_RUNTIME: 'tfjs', ADVSERVE_WORKERS: '0', ADVSERVE_WASM_THREADS: '1' };
}

export async function jobApp(t: Test, dirs: string[], over: Partial<Config> = {}) {
  const config: Config = { ...loadConfig({ ...modelEnv(dirs), ADVSERVE_JOB_DIR: tempDir(t, 'advserve-jobs-') }), ...over };
  const engine = await createEngine(config, quiet);
  const app = await buildApp({ engine, config, logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(async () => {
    await app.close();
    await engine.dispose();
  });
  return { app, engine, config, server: app.server };
}

export interface NamedPng {
  name: string;
  data: Buffer;
}

export async function pngs(names: string[], size: [number, number] = [12, 10]): Promise<NamedPng[]> {
  return Promise.all(names.map(async (name, i) => ({ name, data: await encodePng(tinyImage(size[0], size[1], 11 + i)) })));
}

export const auth = (key?: string) => (key ? { Authorization: `Bearer ${key}` } : {});

export function submit(server: Server, images: NamedPng[], fields: Record<string, string>, key?: string) {
  let req = request(server).post('/v1/jobs').set(auth(key));
  for (const [k, v] of Object.entries(fields)) req = req.field(k, v);
  for (const img of images) req = req.attach('images', img.data, img.name);
  return req;
}

/** A parsed JSON body, read field by field in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = Record<string, any>;

/**
 * Polls the job until it is running, for at most `timeoutMs`; then returns either way (the
 * callers check what they need next: a job that already finished is their case too).
 */
export async function waitRunning(server: Server, id: string, key: string | undefined, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await request(server).get(`/v1/jobs/${id}`).set(auth(key))).body.status === 'running') return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls the job until it reaches a final status. */
export async function waitJob(server: Server, id: string, key?: string, timeoutMs = 90_000): Promise<JsonBody> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(server).get(`/v1/jobs/${id}`).set(auth(key));
    if (res.status !== 200) throw new Error(`GET /v1/jobs/${id}: ${res.status} ${res.text}`);
    if (['done', 'failed', 'cancelled'].includes(res.body.status)) return res.body;
    if (Date.now() > until) throw new Error(`job ${id} did not finish: ${JSON.stringify(res.body.progress)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface JobFieldsIn {
  methods: string;
  defenses: string;
  eps: string;
  iterations: string;
  seed: string;
  mode?: string;
  attack_models?: string;
}

/** What `advserve eval` reports for these images and settings on this engine. */
export async function evalReport(engine: Engine, images: NamedPng[], f: JobFieldsIn): Promise<EvalReport> {
  const ids = engine.listModels().map((m) => m.id);
  return runEval(
    engine,
    images.map((img) => ({ name: img.name, load: () => decodeImage(img.data, { maxPixels: 1e7 }) })),
    {
      eps: Number(f.eps),
      iterations: Number(f.iterations),
      methods: parseMethodList(f.methods),
      defenses: parseDefenseList(f.defenses, ids),
      targeted: f.mode !== 'untargeted',
      seed: Number(f.seed),
      ...(f.attack_models ? { attackModels: f.attack_models.split(',') } : {}),
      concurrency: 2,
    },
  );
}

/** The parts of two reports that must agree (all but timings, dates and the command). */
export function sameReport(t: Test, got: EvalReport, want: EvalReport, what: string): void {
  t.same(got.rows, want.rows, `${what}: rows`);
  t.same(got.byTarget, want.byTarget, `${what}: byTarget`);
  t.same(got.predictions, want.predictions, `${what}: predictions`);
  t.same(got.meta.images, want.meta.images, `${what}: clean labels and targets`);
  const { command: _c, date: _d, ...gotMeta } = got.meta;
  const { command: _c2, date: _d2, ...wantMeta } = want.meta;
  t.same(gotMeta, wantMeta, `${what}: the rest of meta`);
}

/** A spawned `advserve worker`, its output, and its end. */
export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

export function spawnWorker(t: Test, env: NodeJS.ProcessEnv): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
  const onData = (c: Buffer) => {
    out += c.toString();
    if (out.includes('"worker ready"')) readyResolve();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      readyReject(new Error(`worker exited (${code}) before it was ready: ${out.slice(-1500)}`));
      resolve(code);
    }),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, output: () => out, ready, exited };
}
