/**
 * `advserve serve` with a bad configuration or a taken port: a non-zero exit and one clear line
 * on stderr, before any model is loaded (so these runs take seconds).
 */
import t, { type Test } from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { serveUntilExit } from '../support/serve';


function serve(extra: Record<string, string>): Promise<{ code: number | null; stderr: string; ms: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ADVSERVE_BACKEND: 'wasm', ADVSERVE_WORKERS: '0', HOST: '127.0.0.1', PORT: '0', ...extra };
  delete env.LOG_LEVEL;
  if (extra.LOG_LEVEL !== undefined) env.LOG_LEVEL = extra.LOG_LEVEL;
  return serveUntilExit(env);
}

function oneLine(t: Test, stderr: string, pattern: RegExp) {
  const lines = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('npm warn'));
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(stderr)}`);
  t.match(lines[0], pattern);
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
}

const BAD: [string, Record<string, string>, RegExp][] = [
  ['bad LOG_LEVEL', { LOG_LEVEL: 'loud' }, /^advserve: configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "loud"$/],
  ['unknown bundled model', { ADVSERVE_MODELS: 'inception_v3,resnet50' }, /^advserve: configuration error: ADVSERVE_MODELS names "resnet50", not a bundled model \(bundled: inception_v3, mobilenet_v2, mobilenet_v2_mid; /],
  ['bad PORT', { PORT: 'eighty' }, /^advserve: configuration error: PORT must be an integer/],
  ['missing model folder', { ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: '/nonexistent/advserve-model' }, /^advserve: configuration error: ADVSERVE_MODEL_DIRS: \/nonexistent\/advserve-model\/advserve\.json: cannot read it/],
];

for (const [name, env, pattern] of BAD) {
  t.test(`${name}: exit 2 with one line, before listening`, async (t) => {
    const res = await serve(env);
    t.equal(res.code, 2, `exit code (stderr: ${res.stderr.slice(0, 300)})`);
    oneLine(t, res.stderr, pattern);
  });
}

t.test('port in use: exit 1 with one line, before loading models', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const { port } = blocker.address() as AddressInfo;
  const res = await serve({ PORT: String(port), LOG_LEVEL: 'silent' });
  t.equal(res.code, 1, `exit code (stderr: ${res.stderr.slice(0, 300)})`);
  oneLine(t, res.stderr, new RegExp(`^advserve: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use$`));
  t.ok(res.ms < 45_000, `${res.ms} ms: it did not load models first`);
});
