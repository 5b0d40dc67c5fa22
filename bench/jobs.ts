/**
 * `npm run bench:jobs`: one dataset job (16 images x 2 methods = 32 items) through the Redis
 * queue with 1 `advserve worker` process, then with 2, and the same images and settings through
 * `advserve eval` (a child process, timed once its models are loaded), so that the queue's overhead and the second worker's gain are
 * visible. Needs /usr/bin/redis-server (a private one is started on a free loopback port).
 * Worker start-up (model loading) is not timed: the clock runs from the submission to the last
 * item. The cores are split between the worker processes (ADVSERVE_WORKERS = cores / processes,
 * one thread each), as `advserve eval` uses them all in one process.
 *
 *   npm run bench:jobs
 *   npm run bench:jobs -- --images ../shared/eval-images --models mobilenet_v2 --methods fgsm,ifgsm --iterations 10 --rounds 3
 *
 * Each round runs eval, then the job with 1 worker, then with 2; the medians over the rounds are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app';
import { loadConfig } from '../src/config';
import { createEngine } from '../src/engine/bootstrap';
import { encodePng } from '../src/images/encode';
import { benchImages } from './images';

const { values: flags } = parseArgs({
  options: {
    images: { type: 'string' },
    count: { type: 'string', default: '16' },
    models: { type: 'string', default: 'mobilenet_v2' },
    methods: { type: 'string', default: 'fgsm,ifgsm' },
    iterations: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    'redis-server': { type: 'string', default: '/usr/bin/redis-server' },
  },
});

const BIN = join(__dirname, '..', 'bin', 'advserve.js');
const cores = availableParallelism();
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'worker'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('"worker ready"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${out.slice(-800)}`)));
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-bench-jobs-'));
  const port = await freePort();
  const redis = spawn(flags['redis-server'], ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const modelEnv = { ADVSERVE_MODELS: flags.models, LOG_LEVEL: 'warn' };
  const count = Number(flags.count);
  const { images, source } = await benchImages(flags.images, count);
  const files = await Promise.all(images.map(async (img, i) => ({ name: `img-${String(i).padStart(2, '0')}.png`, data: await encodePng(img) })));
  const fields = { methods: flags.methods, defenses: flags.models, eps: '16', iterations: flags.iterations, seed: '0' };
  console.log(`bench:jobs: ${count} images (${source}) x methods ${flags.methods}, ${flags.iterations} iterations, models ${flags.models}, ${cores} cores`);

  // The API: this process, REDIS_URL set, its own engine only for checking the settings.
  const apiConfig = { ...loadConfig({ ...modelEnv, ADVSERVE_WORKERS: '0', ADVSERVE_WASM_THREADS: '1' }), redisUrl: url, host: '127.0.0.1' };
  const apiEngine = await createEngine(apiConfig, quiet);
  const app = await buildApp({ engine: apiEngine, config: apiConfig, logger: { level: process.env.BENCH_LOG_LEVEL ?? 'warn' } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  const runJob = async (processes: number): Promise<{ seconds: number; rows: string }> => {
    const per = Math.max(1, Math.floor(cores / processes));
    const workers = await Promise.all(
      Array.from({ length: processes }, () => startWorker({ ...modelEnv, REDIS_URL: url, ADVSERVE_WORKERS: String(per), ADVSERVE_WASM_THREADS: '1', ADVSERVE_JOB_CONCURRENCY: '4' })),
    );
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    for (const f of files) form.append('images', new Blob([f.data], { type: 'image/png' }), f.name);
    const started = performance.now();
    // One retry on a connection reset: on this shared host the POST was reset now and then (see
    // docs/PERFORMANCE.md); a reset request was not read to its end, so no job was made.
    const res = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form }).catch((err) => {
      console.log(`POST /v1/jobs failed (${(err as Error & { cause?: Error }).cause?.message ?? err}); once more`);
      return fetch(`${base}/v1/jobs`, { method: 'POST', body: form });
    });
    if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    for (;;) {
      const s = (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { status: string };
      if (s.status === 'done' || s.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const report = (await (await fetch(`${base}/v1/jobs/${id}/report`)).json()) as { rows: unknown };
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
    return { seconds, rows: JSON.stringify(report.rows) };
  };
  // `advserve eval` as a child process on the same PNG files (one engine per process: two in one
  // process, each with onnxruntime sessions, is not a set-up advserve supports). Timed from its
  // "eval: N images" line, which it prints once the models are loaded, to its exit.
  const imagesDir = join(dir, 'images');
  mkdirSync(imagesDir);
  for (const f of files) writeFileSync(join(imagesDir, f.name), f.data);
  const runEvalOnce = (): Promise<{ seconds: number; rows: string }> =>
    new Promise((resolve, reject) => {
      const out = join(dir, 'report.json');
      const args = ['eval', '--images', imagesDir, '--methods', fields.methods, '--defenses', fields.defenses, '--eps', fields.eps, '--iterations', fields.iterations, '--seed', fields.seed, '--out', out];
      const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...modelEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      let started = 0;
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        if (!started && /^eval: \d+ images/m.test(err)) started = performance.now();
      });
      child.once('exit', (code) => {
        if (code !== 0 || !started) return reject(new Error(`advserve eval exited ${code}: ${err.slice(-800)}`));
        const report = JSON.parse(readFileSync(out, 'utf8')) as { rows: unknown };
        resolve({ seconds: (performance.now() - started) / 1000, rows: JSON.stringify(report.rows) });
      });
    });

  const runs: Record<string, number[]> = { 'advserve eval': [], '1 worker': [], '2 workers': [] };
  const rows = new Set<string>();
  for (let round = 0; round < Number(flags.rounds); round++) {
    for (const what of Object.keys(runs)) {
      const r = what === 'advserve eval' ? await runEvalOnce() : await runJob(what === '1 worker' ? 1 : 2);
      runs[what].push(r.seconds);
      rows.add(r.rows);
      console.log(`round ${round + 1}: ${what.padEnd(14)} ${r.seconds.toFixed(1).padStart(6)} s`);
    }
  }
  await app.close();
  await apiEngine.dispose();
  redis.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const evalSeconds = median(runs['advserve eval']);
  console.log(`median of ${flags.rounds} round(s):`);
  for (const [what, xs] of Object.entries(runs)) console.log(`  ${what.padEnd(14)} ${median(xs).toFixed(1).padStart(6)} s   ${(median(xs) / evalSeconds).toFixed(2)}x eval's time`);
  console.log(`  1 -> 2 workers: ${(median(runs['1 worker']) / median(runs['2 workers'])).toFixed(2)}x as fast`);
  console.log(`every run gave the same rows as advserve eval: ${rows.size === 1 ? 'yes' : 'NO'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
