/**
 * `npm run bench:load`: overload on loopback. Spawns `advserve serve` (default configuration,
 * ADVSERVE_MAX_JOBS small), then runs 8x ADVSERVE_MAX_JOBS clients that POST targeted attacks
 * on one image back to back for a bounded time. Checks: every answer is 200 or 429 (any 5xx
 * fails the run), every admitted attack finished (the server's job counters against the 200s),
 * and the server's RSS at the end is within 10% of its RSS at the reference point (after the
 * first minute). Stops by itself: no new request after --duration, then waits for the ones in
 * flight (bounded), then SIGTERMs the server and expects exit 0.
 *
 *   npm run bench:load
 *   npm run bench:load -- --duration 120 --reference 60 --max-jobs 2 --clients 16 --iterations 5
 *   npm run bench:load -- --image ../shared/eval-images/photo_dog.jpg --models mobilenet_v2 --json
 */
import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { spawnServer } from '../test/support/serve';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    reference: { type: 'string', default: '60' },
    'max-jobs': { type: 'string', default: '2' },
    clients: { type: 'string' },
    iterations: { type: 'string', default: '5' },
    models: { type: 'string' },
    image: { type: 'string' },
    'backoff-ms': { type: 'string', default: '200' },
    json: { type: 'boolean', default: false },
  },
});

const durationS = Number(flags.duration);
const referenceS = Math.min(Number(flags.reference), durationS);
const maxJobs = Number(flags['max-jobs']);
const clients = flags.clients ? Number(flags.clients) : 8 * maxJobs;
const iterations = Number(flags.iterations);
const backoffMs = Number(flags['backoff-ms']);
/** After --duration, how long requests still in flight may take before the run counts them as lost. */
const FINISH_MS = 300_000;

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
}

async function loadImage(): Promise<{ bytes: Buffer; type: string; name: string }> {
  const file = flags.image ?? join(__dirname, '..', '..', 'shared', 'eval-images', 'photo_dog.jpg');
  if (existsSync(file)) return { bytes: await readFile(file), type: file.endsWith('.png') ? 'image/png' : file.endsWith('.webp') ? 'image/webp' : 'image/jpeg', name: file };
  const bytes = await sharp({ create: { width: 512, height: 384, channels: 3, background: { r: 120, g: 140, b: 90 } } }).jpeg().toBuffer();
  return { bytes, type: 'image/jpeg', name: 'synthetic 512x384' };
}

function jobCounts(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^advserve_jobs_total\{kind="attack",outcome="(\w+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};

async function main(): Promise<number> {
  const image = await loadImage();
  const env: NodeJS.ProcessEnv = { ...process.env, ADVSERVE_MAX_JOBS: String(maxJobs), LOG_LEVEL: 'info' };
  if (flags.models) env.ADVSERVE_MODELS = flags.models;
  const server = await spawnServer(env, (durationS + 600) * 1000);
  const ready = await server.logged((l) => l.msg === 'ready');
  const base = `http://127.0.0.1:${server.port}`;
  const rssReady = rssKb(server.pid);

  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  const problems: string[] = [];
  let badBodies = 0;
  const started = Date.now();
  const stopAt = started + durationS * 1000;
  const samples: { s: number; rssKb: number }[] = [];
  let rssReference: number | undefined;
  const sampler = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    const kb = rssKb(server.pid);
    samples.push({ s, rssKb: kb });
    if (rssReference === undefined && s >= referenceS) rssReference = kb;
  }, 5000);

  const client = async (c: number) => {
    for (let n = 0; Date.now() < stopAt; n++) {
      const t0 = performance.now();
      const target = (c + n) % 5;
      const res = await fetch(`${base}/v1/attack/targeted?target=${target}&iterations=${iterations}&seed=${c}`, {
        method: 'POST',
        headers: { 'Content-Type': image.type },
        body: image.bytes,
        signal: AbortSignal.timeout(FINISH_MS + durationS * 1000),
      });
      const body = Buffer.from(await res.arrayBuffer());
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) {
        latencies.push(performance.now() - t0);
        if (body.subarray(1, 4).toString() !== 'PNG' || res.headers.get('x-advserve-iterations') === null) badBodies++;
      } else {
        if (res.status !== 429 && problems.length < 10) problems.push(`${res.status} ${body.toString().slice(0, 200)}`);
        await new Promise((r) => setTimeout(r, backoffMs));
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: clients }, (_, c) => client(c)));
  const endedMs = Date.now() - started;
  clearInterval(sampler);
  const rssEnd = rssKb(server.pid);
  rssReference ??= samples.at(-1)?.rssKb ?? rssEnd;
  const lost = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));

  const jobs = jobCounts(await (await fetch(`${base}/metrics`)).text());
  server.kill('SIGTERM');
  const exit = await server.exited;

  const ok = statuses.get(200) ?? 0;
  const others = [...statuses.keys()].filter((s) => s !== 200 && s !== 429);
  const ratio = rssEnd / rssReference;
  const checks = {
    'only 200 and 429': others.length === 0,
    'no 5xx': ![...statuses.keys()].some((s) => s >= 500),
    'no request lost (connection error or timeout)': lost.length === 0,
    'every 200 is a PNG with the attack headers': badBodies === 0,
    'every admitted attack finished (server: finished = 200s, no failed or cancelled)': (jobs.finished ?? 0) === ok && !jobs.failed && !jobs.cancelled,
    'RSS at the end within 10% of RSS at the reference': ratio <= 1.1,
    'server exit code 0 after SIGTERM': exit.code === 0,
  };
  const report = {
    host: { nproc: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    config: { maxJobs, clients, iterations, durationS, referenceS, models: flags.models ?? '(default: the bundled models)', image: image.name, modelsLoadedMs: ready.ms },
    ranMs: endedMs,
    statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
    serverAttackJobs: jobs,
    attacksPerMin: (ok / endedMs) * 60_000,
    latency200Ms: { p50: Math.round(percentile(latencies, 50)), p95: Math.round(percentile(latencies, 95)), max: Math.round(Math.max(...latencies)) },
    rssMb: { ready: rssReady / 1024, reference: rssReference / 1024, end: rssEnd / 1024, endOverReference: Number(ratio.toFixed(3)) },
    rssSamplesMb: samples.map((x) => [x.s, Math.round(x.rssKb / 1024)]),
    problems,
    lost,
    exit: { code: exit.code, signal: exit.signal },
    checks,
  };
  if (flags.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`host: ${report.host.nproc} cores, ${report.host.cpu}, node ${report.host.node}`);
    console.log(`config: ADVSERVE_MAX_JOBS=${maxJobs}, ${clients} clients, iterations=${iterations}, ${durationS} s, models ${report.config.models}, image ${image.name}`);
    console.log(`statuses: ${JSON.stringify(report.statuses)}; server attack jobs: ${JSON.stringify(jobs)}`);
    console.log(`attacks/min ${report.attacksPerMin.toFixed(1)}; 200 latency p50 ${report.latency200Ms.p50} ms, p95 ${report.latency200Ms.p95} ms, max ${report.latency200Ms.max} ms`);
    console.log(`RSS MB: ready ${report.rssMb.ready.toFixed(0)}, at ${referenceS} s ${report.rssMb.reference.toFixed(0)}, end ${report.rssMb.end.toFixed(0)} (end/reference ${report.rssMb.endOverReference})`);
    console.log(`RSS samples (s, MB): ${report.rssSamplesMb.map(([s, mb]) => `${s}:${mb}`).join(' ')}`);
    if (problems.length) console.log(`unexpected answers: ${problems.join(' | ')}`);
    if (lost.length) console.log(`lost: ${lost.slice(0, 5).join(' | ')}`);
    for (const [name, pass] of Object.entries(checks)) console.log(`${pass ? 'PASS' : 'FAIL'} ${name}`);
  }
  return Object.values(checks).every(Boolean) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
