/**
 * `npm run bench:concurrency`: 8 targeted mng-l1 attacks (20 iterations, different images and
 * targets) run one after another, then all 8 at once on the same engine, so that the scheduler
 * batches their gradient passes (bench/concurrent.ts). Prints the throughput ratio, p50/p95
 * latency, mean batch size, and whether every job's output bytes were the same both ways.
 *
 *   npm run bench:concurrency                    synthetic 512x384 images, the service's defaults
 *   npm run bench:concurrency -- --images DIR    real photos (cover-resized to 512x384)
 *   npm run bench:concurrency -- --jobs 8 --iterations 20 --workers 2 --wasm-threads 1 --max-batch 8 --json
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { createEngine } from '../src/engine/bootstrap';
import { percentile, runConcurrency, type ConcurrencyMode } from './concurrent';
import { folderImages, syntheticImage } from './images';

const { values: flags } = parseArgs({
  options: {
    images: { type: 'string' },
    jobs: { type: 'string', default: '8' },
    iterations: { type: 'string', default: '20' },
    workers: { type: 'string' },
    'wasm-threads': { type: 'string' },
    'max-batch': { type: 'string' },
    models: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

async function main() {
  const jobs = Number(flags.jobs);
  const iterations = Number(flags.iterations);
  const env: NodeJS.ProcessEnv = { ...process.env, ADVSERVE_BACKEND: process.env.ADVSERVE_BACKEND ?? 'wasm' };
  if (flags.workers !== undefined) env.ADVSERVE_WORKERS = flags.workers;
  if (flags['wasm-threads'] !== undefined) env.ADVSERVE_WASM_THREADS = flags['wasm-threads'];
  if (flags['max-batch'] !== undefined) env.ADVSERVE_MAX_BATCH = flags['max-batch'];
  if (flags.models !== undefined) env.ADVSERVE_MODELS = flags.models;
  const config = loadConfig(env);
  const quiet = { info: () => {}, warn: () => {}, error: (o: object, m: string) => process.stderr.write(`${m} ${JSON.stringify(o)}\n`) };
  const engine = await createEngine(config, quiet);
  const images = flags.images ? (await folderImages(flags.images, jobs)).images : Array.from({ length: jobs }, (_, i) => syntheticImage(i));
  while (images.length < jobs) images.push(images[images.length % Math.max(1, images.length)]);
  process.stderr.write(`bench:concurrency: ${jobs} attacks x ${iterations} iterations, workers ${config.workers} x ${config.wasmThreads} thread(s), runtime ${config.runtime}, max batch ${config.maxBatch}, micro-batch ${config.microBatch}\n`);
  process.stderr.write('sequential, then concurrent...\n');
  const { sequential, concurrent, identical } = await runConcurrency(engine, images.slice(0, jobs), iterations);
  await engine.dispose();

  const row = (name: string, p: ConcurrencyMode) => ({
    mode: name,
    wallS: +(p.wallMs / 1000).toFixed(1),
    attacksPerMin: +((jobs / p.wallMs) * 60000).toFixed(2),
    p50S: +(percentile(p.latenciesMs, 50) / 1000).toFixed(1),
    p95S: +(percentile(p.latenciesMs, 95) / 1000).toFixed(1),
    meanBatch: +p.meanBatch.toFixed(2),
    successes: `${p.successes}/${jobs}`,
  });
  const result = {
    date: new Date().toISOString(),
    jobs,
    iterations,
    workers: config.workers,
    wasmThreads: config.wasmThreads,
    microBatch: config.microBatch,
    maxBatch: config.maxBatch,
    models: engine.listModels().map((m) => m.id),
    input: flags.images ? `photos from ${flags.images}` : 'synthetic 512x384',
    rows: [row('one after another', sequential), row(`${jobs} at once`, concurrent)],
    throughputRatio: +(sequential.wallMs / concurrent.wallMs).toFixed(2),
    identicalBytes: identical,
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(`\n${jobs} targeted mng-l1 attacks, ${iterations} iterations, eps 16, ${result.input}; workers ${config.workers} x ${config.wasmThreads} thread(s), runtime ${config.runtime}, max batch ${config.maxBatch}, micro-batch ${config.microBatch}\n\n`);
  process.stdout.write('| mode | wall s | attacks/min | p50 s | p95 s | mean batch | success |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
  for (const r of result.rows) process.stdout.write(`| ${r.mode} | ${r.wallS} | ${r.attacksPerMin} | ${r.p50S} | ${r.p95S} | ${r.meanBatch} | ${r.successes} |\n`);
  process.stdout.write(`\nthroughput ratio (concurrent / sequential): ${result.throughputRatio}x; identical bytes: ${identical ? 'yes' : 'no'}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
