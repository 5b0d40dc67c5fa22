/**
 * `npx tsx bench/memory.ts`: resident memory of a real `advserve serve` under large attacks.
 * Starts the service (the bundled models unless ADVSERVE_MODELS / ADVSERVE_MODEL_DIRS say
 * otherwise; every ADVSERVE_* variable of this shell is passed on), sends one targeted attack
 * per size in --mp (megapixels, or WxH; smooth PNGs whose rows are alike), one after another,
 * then the sizes in --concurrent all at once, then a small attack, and prints per request:
 * status, seconds, the service's RSS after it and its peak RSS so far (VmRSS / VmHWM of the
 * process, worker threads included).
 *
 *   npx tsx bench/memory.ts --mp 1,4,8,12,16 --iterations 2
 *   npx tsx bench/memory.ts --mp 2048x2048,2048x2048 --concurrent 2048x2048,2048x2048,2048x2048
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values: flags } = parseArgs({
  options: {
    mp: { type: 'string', default: '1,4,8,12,16' },
    iterations: { type: 'string', default: '2' },
    method: { type: 'string', default: 'mng-l1' },
    port: { type: 'string', default: '18391' },
    concurrent: { type: 'string', default: '' },
  },
});

const GIB = 1024 ** 3;

function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** `WxH`, or a 4:3 image of about that many megapixels, whose rows are all alike: PNG's up filter makes it small. */
async function smoothPng(size: string): Promise<{ png: Buffer; width: number; height: number }> {
  const given = /^(\d+)x(\d+)$/.exec(size);
  const mp = Number(size);
  const width = given ? Number(given[1]) : Math.round(Math.sqrt((mp * 1e6 * 4) / 3));
  const height = given ? Number(given[2]) : Math.round((mp * 1e6) / width);
  const row = Buffer.alloc(width * 3);
  for (let x = 0; x < width; x++) row.fill(Math.round((x / width) * 200) + 20, x * 3, x * 3 + 3);
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) row.copy(raw, y * width * 3);
  const png = await sharp(raw, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
  return { png, width, height };
}

async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the service did not become ready');
}

async function attack(base: string, png: Buffer): Promise<{ status: number; seconds: number; detail: string }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/attack/targeted?target=0&iterations=${flags.iterations}&method=${flags.method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'image/png' },
    body: png,
  });
  const body = await res.text();
  const detail = res.status === 200 ? '' : body.slice(0, 160);
  return { status: res.status, seconds: (performance.now() - t0) / 1000, detail };
}

async function main() {
  const port = Number(flags.port);
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(__dirname, '..', 'bin', 'advserve.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    await waitReady(base);
    const show = (label: string, r: { status: number; seconds: number; detail: string }) => {
      const m = memory(child.pid!);
      console.log(`${label.padEnd(22)} status ${r.status}  ${r.seconds.toFixed(1).padStart(6)} s  rss ${(m.rss / GIB).toFixed(2)} GiB  peak ${(m.peak / GIB).toFixed(2)} GiB ${r.detail}`);
    };
    const idle = memory(child.pid!);
    console.log(`ready                  rss ${(idle.rss / GIB).toFixed(2)} GiB  peak ${(idle.peak / GIB).toFixed(2)} GiB`);
    const label = (im: { png: Buffer; width: number; height: number }) => `${((im.width * im.height) / 1e6).toFixed(1)} MP ${im.width}x${im.height} (${(im.png.length / 1024).toFixed(0)} KB)`;
    for (const size of flags.mp.split(',').filter(Boolean)) {
      const im = await smoothPng(size);
      show(label(im), await attack(base, im.png));
    }
    const together = await Promise.all(flags.concurrent.split(',').filter(Boolean).map(smoothPng));
    if (together.length > 0) {
      const results = await Promise.all(together.map((im) => attack(base, im.png)));
      results.forEach((r, i) => show(`together: ${label(together[i])}`, r));
    }
    const small = await smoothPng('0.2');
    show('0.2 MP after', await attack(base, small.png));
  } finally {
    child.kill('SIGKILL');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
