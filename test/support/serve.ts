/** Runs `advserve serve` as a child process until it exits (start-up failure tests). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(__dirname, '..', '..', 'bin', 'advserve.js');

export function serveUntilExit(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started });
    });
  });
}

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

/** A running `advserve serve`: its port, its JSON log lines as they come, and its exit. */
export interface RunningServer {
  port: number;
  pid: number;
  /** Resolves with the first log line (past or future) that matches. */
  logged(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Spawns `advserve serve` (PORT=0 unless given) and resolves once it listens. */
export function spawnServer(env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<RunningServer> {
  const child = spawn(process.execPath, [BIN, 'serve'], { env: { PORT: '0', HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let stderr = '';
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (stderr += c));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    const parts = (partial + c).split('\n');
    partial = parts.pop()!;
    for (const text of parts) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const w of waiters.filter((w) => w.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stderr });
    }),
  );
  const logged = (match: (l: LogLine) => boolean, ms = timeoutMs) => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms; stderr: ${stderr.slice(-500)}`)), ms);
      waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then(() => reject(new Error(`the server exited before the log line; stderr: ${stderr.slice(-500)}`)));
    });
  };
  return logged((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at ')).then((l) => ({
    port: Number(/:(\d+)$/.exec(l.msg!)![1]),
    pid: child.pid!,
    logged,
    exited,
    kill: (signal: NodeJS.Signals) => child.kill(signal),
  }));
}
