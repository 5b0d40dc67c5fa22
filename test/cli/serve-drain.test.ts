/**
 * SIGTERM on a real `advserve serve` (the bundled mobilenet_v2 on onnxruntime, in a worker
 * thread): an attack still running when the grace period ends is answered 503 problem+json
 * with Retry-After, a request arriving during the drain on a kept-alive connection gets 503,
 * an attack that ends within the grace period gets its 200, and the process exits 0 without
 * onnxruntime's Napi::Error abort.
 */
import t, { type Test } from 'tap';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { spawnServer, type RunningServer } from '../support/serve';
import { testPhoto } from '../support/photo';

const PROBLEM = 'application/problem+json; charset=utf-8';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function postAttack(port: number, image: Buffer, query: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: `/v1/attack/targeted?${query}`, headers: { 'Content-Type': 'image/jpeg', 'Content-Length': image.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(image);
  });
}

/** Reads one HTTP response from a raw socket (status line, headers and body as text). */
function readResponse(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (head >= 0 && length && text.length >= head + 4 + Number(length[1])) done();
    };
    const done = () => {
      socket.off('data', onData);
      socket.off('close', done);
      resolve(text);
    };
    socket.on('data', onData);
    socket.on('close', done);
  });
}

const env = (graceMs: number) => {
  const e: NodeJS.ProcessEnv = { ...process.env, ADVSERVE_MODELS: 'mobilenet_v2', ADVSERVE_WORKERS: '1', ADVSERVE_SHUTDOWN_GRACE_MS: String(graceMs), LOG_LEVEL: 'info' };
  delete e.ADVSERVE_MODEL_DIRS;
  return e;
};

function noAbort(t: Test, stderr: string) {
  t.notMatch(stderr, /Napi::Error|terminate called|Aborted|core dumped/, `no native abort on stderr: ${stderr.slice(0, 500)}`);
}

const arrived = (server: RunningServer, path: string) =>
  server.logged((l) => l.msg === 'incoming request' && l.path === path);

t.test('grace period over: the running attack gets 503 problem+json, a kept-alive request during the drain 503, exit 0', async (t) => {
  const { bytes } = await testPhoto();
  const server = await spawnServer(env(1000));
  t.teardown(() => server.kill('SIGKILL'));
  await server.logged((l) => l.msg === 'ready');

  // A kept-alive connection: one request answered, the next one's headers half sent.
  const socket = connect(server.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.match(await readResponse(socket), /^HTTP\/1\.1 200 /, 'keep-alive connection open');

  const attack = postAttack(server.port, bytes, 'target=1&iterations=1000');
  await arrived(server, '/v1/attack/targeted');
  socket.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
  server.kill('SIGTERM');
  await server.logged((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'));
  const duringDrain = readResponse(socket);
  socket.write('\r\n');
  const late = await duringDrain;
  t.match(late, /^HTTP\/1\.1 503 /, `request during the drain: 503 (${late.slice(0, 80)})`);
  t.match(late, /\r\ncontent-type: application\/problem\+json/i);
  t.match(late, /\r\nretry-after: \d+/i);
  t.match(late, /\r\nconnection: close/i);
  t.match(late, /"type":"https:\/\/advserve\.dev\/problems\/shutting-down"/);

  const res = await attack;
  t.equal(res.status, 503, `cut attack: ${res.body.toString().slice(0, 300)}`);
  t.equal(res.headers['content-type'], PROBLEM);
  t.match(res.headers['retry-after'], /^\d+$/);
  t.match(JSON.parse(res.body.toString()), { type: 'https://advserve.dev/problems/shutting-down', status: 503 });

  const cutLine = await server.logged((l) => typeof l.msg === 'string' && l.msg.startsWith('grace period over'));
  t.match(cutLine.cut, [{ method: 'POST', path: '/v1/attack/targeted' }], 'the log names the cut request');
  const exit = await server.exited;
  t.equal(exit.code, 0, 'exit code');
  noAbort(t, exit.stderr);
});

t.test('an attack that ends within the grace period gets its 200, then exit 0', async (t) => {
  const { bytes } = await testPhoto();
  const server = await spawnServer(env(60_000));
  t.teardown(() => server.kill('SIGKILL'));
  await server.logged((l) => l.msg === 'ready');
  const attack = postAttack(server.port, bytes, 'target=1&iterations=3');
  await arrived(server, '/v1/attack/targeted');
  server.kill('SIGTERM');
  const res = await attack;
  t.equal(res.status, 200, `finished attack: ${res.status === 200 ? '' : res.body.toString().slice(0, 300)}`);
  t.equal(res.headers['content-type'], 'image/png');
  t.equal(res.headers.connection, 'close', 'answers during the drain close their connection');
  const exit = await server.exited;
  t.equal(exit.code, 0, 'exit code');
  noAbort(t, exit.stderr);
});
