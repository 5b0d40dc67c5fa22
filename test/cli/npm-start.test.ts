/**
 * `npm start`, the README's way to run the service, starts it with glibc's MALLOC_ARENA_MAX=2
 * (fewer malloc arenas: README, Memory) unless the caller set the variable, and the service's
 * 'ready' log line says which value it runs with.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** Runs `npm start` until its 'ready' log line; returns that line's mallocArenaMax. */
function readyArenaMax(extra: Record<string, string>): Promise<unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, ADVSERVE_MODELS: 'mobilenet_v2', ADVSERVE_WORKERS: '0', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...extra };
  if (!('MALLOC_ARENA_MAX' in extra)) delete env.MALLOC_ARENA_MAX;
  // Its own process group, so that the shell npm starts and the service under it go together.
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => (stop(), reject(new Error(`no 'ready' line within 120 s; stderr: ${err.slice(-400)}`))), 120_000);
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.stdout.on('data', (c: Buffer) => {
      out += c;
      for (const text of out.split('\n')) {
        if (!text.includes('"msg":"ready"')) continue;
        clearTimeout(timer);
        stop();
        resolve((JSON.parse(text) as { mallocArenaMax?: unknown }).mallocArenaMax);
        return;
      }
    });
    child.on('exit', (code) => (clearTimeout(timer), reject(new Error(`npm start exited (${code}) before 'ready'; stderr: ${err.slice(-400)}`))));
  });
}

t.test('npm start: MALLOC_ARENA_MAX=2 by default, the caller\'s value where set', async (t) => {
  t.equal(await readyArenaMax({}), '2', 'unset: 2');
  t.equal(await readyArenaMax({ MALLOC_ARENA_MAX: '4' }), '4', 'set: kept');
});
