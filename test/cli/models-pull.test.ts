/**
 * `advserve models list|pull` as a user runs them (bin/advserve.js), against a loopback HTTP
 * server that serves ../shared/models as a mirror (<mirror>/<id>/<file>), with redirects, a
 * corrupted byte, an oversized body, a 404 and a silent server: every file lands with the sha256
 * of ../shared's catalog.json and an advserve.json the service accepts, or nothing lands at all.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import { decodeImage } from '../../src/images/decode';
import { readFolderSpec } from '../../src/models/spec-file';
import { CATALOG } from '../../src/models/pull/catalog';
import { modelsCommand } from '../../src/models/pull/command';
import { pullProgress } from '../../src/models/pull/progress';
import { makeSharedModelFolders } from '../../scripts/shared-models';
import { BIN } from '../support/serve';

const SHARED = resolve(__dirname, '../../../shared');
const MODELS = join(SHARED, 'models');
const SMALL = 'mobilenet_v1_025_128_quant'; // 549 kB
const OTHER = 'mobilenet_v1_050_160_quant';

interface SharedModel {
  id: string;
  entry: string;
  files: { name: string; bytes: number; sha256: string }[];
  input: { size: number[]; layout: string; scale: number[]; offset: number[]; formula: string };
  output: { background_index: number | null; ends_in_softmax: boolean };
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = { ...process.env };
  delete base.ADVSERVE_MODEL_STORE;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'models', ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The same command in this process (faster than a spawn): exit code and what it wrote. */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = { write: (s: string) => ((stdout += s), true) } as NodeJS.WritableStream;
  const code = await modelsCommand(args, env, out, { write: (s: string) => (stderr += s) });
  return { code, stdout, stderr };
}

function tmpStore(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const leftovers = (store: string) => readdirSync(store).filter((n) => n.startsWith('.'));

t.test('progress: a bar with bytes/total on a TTY, redrawn in place, ending with a newline', async (t) => {
  let text = '';
  let clock = 0;
  const p = pullProgress({ isTTY: true, columns: 200, write: (s: string) => (text += s) }, 'm', 2, 3_000_000, () => (clock += 200));
  p.bytes('a.bin', 0, 0, 500_000);
  p.verified('a.bin', 0, 1_000_000, 1_000_000);
  p.bytes('b.bin', 1, 1_000_000, 1_000_000);
  p.verified('b.bin', 1, 2_000_000, 3_000_000);
  const frames = text.split('\r').filter(Boolean);
  t.match(frames[0], /^m \[#{4}-{20}\] 500 kB\/3\.0 MB  1\/2 a\.bin/);
  t.match(frames[2], /^m \[#{16}-{8}\] 2\.0 MB\/3\.0 MB  2\/2 b\.bin/);
  t.match(frames[3], /^m \[#{24}\] 3\.0 MB\/3\.0 MB  2\/2 b\.bin\x1b\[K\n$/);
  t.equal(text.split('\n').length, 2, 'one newline, at the end');
});

t.test('usage errors need no network and no ../shared', async (t) => {
  const store = tmpStore(t);
  const unknown = await cli(['pull', 'resnet9000', '--store', store]); // through bin/advserve.js and src/cli.ts
  t.equal(unknown.code, 2, 'unknown id: exit 2');
  t.match(unknown.stderr, /unknown model "resnet9000"/);
  for (const e of CATALOG) t.match(unknown.stderr, e.id, `lists ${e.id}`);
  t.equal(unknown.stderr.trim().split('\n').length, 1, 'one line');

  const noStore = await run(['pull', SMALL]);
  t.equal(noStore.code, 2, 'no --store and no ADVSERVE_MODEL_STORE: exit 2');
  t.match(noStore.stderr, /--store DIR or set ADVSERVE_MODEL_STORE/);

  // A converted model has no public copy of its files: refused before anything is fetched.
  const noUrl = await run(['pull', SMALL], { ADVSERVE_MODEL_STORE: store });
  t.equal(noUrl.code, 2);
  t.match(noUrl.stderr, /model\.json.*no public download URL.*--mirror/);
  t.same(readdirSync(store), [], 'nothing written');

  const badMirror = await run(['pull', SMALL, '--store', store, '--mirror', 'ftp://example.org/x']);
  t.equal(badMirror.code, 2);
  t.match(badMirror.stderr, /--mirror.*http or https/);

  const list = await run(['list']);
  t.equal(list.code, 0, list.stderr);
  for (const e of CATALOG) t.match(list.stdout, new RegExp(`^${e.id} `, 'm'));
});

if (!existsSync(join(MODELS, 'catalog.json'))) {
  t.comment(`skipped: ${MODELS} is absent, so the pulls from a loopback mirror, the checksum failures and the catalog-vs-../shared check did not run (only the usage errors above did)`);
} else {
  const shared = (JSON.parse(readFileSync(join(MODELS, 'catalog.json'), 'utf8')) as { models: SharedModel[] }).models;

  t.test("the catalog's files, sizes, sha256s and network descriptions are ../shared's", async (t) => {
    t.same(CATALOG.map((e) => e.id).sort(), shared.map((m) => m.id).sort(), 'the same 10 ids');
    for (const e of CATALOG) {
      const m = shared.find((s) => s.id === e.id)!;
      t.same(e.files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })), m.files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })), `${e.id}: files`);
      t.same(e.network, { entry: m.entry, input: { size: m.input.size, layout: m.input.layout, scale: m.input.scale, offset: m.input.offset, formula: m.input.formula }, output: { background_index: m.output.background_index, ends_in_softmax: m.output.ends_in_softmax } }, `${e.id}: network`);
      for (const f of e.files) if (f.url) t.match(f.url, /^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[0-9a-f]{40}\//, `${e.id}/${f.name}: a raw URL at a fixed commit`);
    }
  });

  /** What the mirror does to one file: flip a byte, append bytes (no Content-Length), or never answer. */
  const tamper = new Map<string, 'corrupt' | 'longer' | 'silent'>();
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    // /old/... answers with a redirect to /mirror/..., as GitHub's raw URLs do.
    if (url.pathname.startsWith('/old/')) {
      res.writeHead(302, { Location: url.pathname.replace('/old/', '/mirror/') }).end();
      return;
    }
    const m = /^\/mirror\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(url.pathname);
    const file = m && join(MODELS, m[1], m[2]);
    if (!file || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const how = tamper.get(`${m[1]}/${m[2]}`);
    if (how === 'silent') return; // headers never come
    if (how === 'corrupt') {
      const bytes = Buffer.from(readFileSync(file));
      bytes[bytes.length >> 1] ^= 0xff;
      res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
      return;
    }
    if (how === 'longer') {
      res.writeHead(200); // chunked: no length to refuse up front
      res.write(readFileSync(file));
      res.end(Buffer.alloc(4096, 32));
      return;
    }
    res.writeHead(200, { 'Content-Length': statSync(file).size });
    createReadStream(file).pipe(res);
  });

  t.before(() => new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok)));
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  const base = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  t.test('pull through a redirecting mirror: every file with its sha256, an advserve.json the service reads, listed as in the store', async (t) => {
    const store = tmpStore(t);
    const before = requests;
    const res = await cli(['pull', SMALL, '--mirror', `${base()}/old/`], { ADVSERVE_MODEL_STORE: store });
    t.equal(res.code, 0, res.stderr);
    const m = shared.find((s) => s.id === SMALL)!;
    t.equal(requests - before, 2 * m.files.length, 'each file fetched once, through one redirect');
    const dir = join(store, SMALL);
    t.same(readdirSync(dir).sort(), [...m.files.map((f) => f.name), 'advserve.json'].sort(), 'the catalog files and advserve.json');
    for (const f of m.files) t.equal(sha256(join(dir, f.name)), f.sha256, `${f.name}: sha256 of ../shared's catalog.json`);
    t.same(leftovers(store), [], 'no temporary folder left');
    t.equal(statSync(dir).mode & 0o777, 0o755, 'a folder others (the service) can read');
    const spec = await readFolderSpec(dir);
    t.equal(spec.id, SMALL);
    t.equal(spec.labels.length, 1000, '1000 classes once the background entry is dropped');
    t.same(spec.inputSize, [128, 128]);
    t.equal(spec.output, 'probabilities');
    t.equal(spec.classIds?.[0], 'n01440764', 'presented in the standard ImageNet order (tench first)');
    const links = makeSharedModelFolders(tmpStore(t), SHARED).get(SMALL)!;
    t.same(JSON.parse(readFileSync(join(dir, 'advserve.json'), 'utf8')), JSON.parse(readFileSync(join(links, 'advserve.json'), 'utf8')), "the same advserve.json as scripts/shared-models.ts writes");
    t.equal(res.stderr.trim().split('\n').length, m.files.length, 'not a TTY: one progress line per file');
    t.match(res.stderr, /4\/4 wnids\.json 13016 bytes, sha256 ok/);
    t.match(res.stdout, `pulled ${SMALL} into ${dir}`);

    const list = await run(['list', '--store', store]);
    t.equal(list.code, 0, list.stderr);
    t.match(list.stdout, new RegExp(`^${SMALL} .* yes `, 'm'), 'marked as in the store');
    t.match(list.stdout, new RegExp(`^${OTHER} .* - `, 'm'), 'others not');

    // An existing folder: refused without --force (untouched), replaced with it.
    const stamp = statSync(join(dir, 'model.json')).mtimeMs;
    const again = await cli(['pull', SMALL, '--mirror', `${base()}/mirror`], { ADVSERVE_MODEL_STORE: store });
    t.equal(again.code, 2);
    t.match(again.stderr, /already exists; give --force/);
    t.equal(statSync(join(dir, 'model.json')).mtimeMs, stamp, 'left as it was');
    const forced = await run(['pull', SMALL, '--mirror', `${base()}/mirror`, '--force'], { ADVSERVE_MODEL_STORE: store });
    t.equal(forced.code, 0, forced.stderr);
    t.not(statSync(join(dir, 'model.json')).mtimeMs, stamp, 'replaced');
    for (const f of m.files) t.equal(sha256(join(dir, f.name)), f.sha256);
    t.same(leftovers(store), [], 'no temporary folders left');

    // The pulled folder serves: loaded as the service loads a model folder, it sees the cat.
    const engine = await createEngine(
      loadConfig({ ADVSERVE_BACKEND: 'wasm', ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: dir, ADVSERVE_WORKERS: '0' }),
      { info: () => {}, warn: () => {}, error: (o: object, msg: string) => console.error(msg, o) },
    );
    t.teardown(() => engine.dispose());
    const cat = await decodeImage(readFileSync(join(SHARED, 'eval-images/photo_cat-chelsea.jpg')), { maxPixels: 1e8 });
    const out = await engine.classify(cat, { topK: 5 });
    const top = out.models[0].top;
    t.ok(top.some((p) => /cat|tabby/i.test(p.label)), `a cat class in the top 5: ${top.map((p) => `${p.label} ${p.prob.toFixed(2)}`).join('; ')}`);
  });

  t.test('every catalog entry pulls from the mirror and reads as a model folder', async (t) => {
    const store = tmpStore(t);
    for (const e of CATALOG) {
      const res = await run(['pull', e.id, '--store', store, '--mirror', `${base()}/mirror`]);
      t.equal(res.code, 0, `${e.id}: ${res.stderr.trim().split('\n').pop()}`);
      const spec = await readFolderSpec(join(store, e.id));
      t.equal(spec.labels.length, 1000, `${e.id}: ${spec.format}, 1000 classes`);
    }
    t.same(readdirSync(store).sort(), CATALOG.map((e) => e.id).sort(), 'one folder per entry, nothing else');
  });

  const fails = async (t: Test, how: 'corrupt' | 'longer' | 'silent' | 'missing', file: string, args: string[] = []) => {
    const store = tmpStore(t);
    if (how !== 'missing') tamper.set(`${OTHER}/${file}`, how);
    t.teardown(() => tamper.clear());
    const mirror = how === 'missing' ? `${base()}/elsewhere` : `${base()}/mirror`;
    const res = await run(['pull', OTHER, '--store', store, '--mirror', mirror, ...args]);
    t.equal(res.code, 1, 'exit 1');
    t.notOk(existsSync(join(store, OTHER)), `no ${OTHER} folder`);
    t.same(leftovers(store), [], 'no temporary folder');
    const last = res.stderr.trim().split('\n').pop()!;
    t.match(last, new RegExp(`^advserve: models pull ${OTHER}: ${file.replace('.', '\\.')}: `), `one line naming the file: ${last}`);
    return last;
  };

  t.test('a corrupted byte fails the pull with both hashes and leaves nothing', async (t) => {
    const m = shared.find((s) => s.id === OTHER)!;
    const file = 'group1-shard1of1.bin';
    const bytes = Buffer.from(readFileSync(join(MODELS, OTHER, file)));
    bytes[bytes.length >> 1] ^= 0xff;
    const line = await fails(t, 'corrupt', file);
    t.match(line, 'sha256 mismatch');
    t.match(line, m.files.find((f) => f.name === file)!.sha256, 'the expected hash');
    t.match(line, createHash('sha256').update(bytes).digest('hex'), 'the hash of what came');
  });

  t.test('a body longer than the catalog says is cut off', async (t) => {
    t.match(await fails(t, 'longer', 'model.json'), /sends more than the catalog's 32945 bytes/);
  });

  t.test('an HTTP error names the status and the URL', async (t) => {
    t.match(await fails(t, 'missing', 'group1-shard1of1.bin'), /HTTP 404 .*\/elsewhere\/mobilenet_v1_050_160_quant\/group1-shard1of1\.bin/);
  });

  t.test('a server that never answers times out', async (t) => {
    const started = Date.now();
    t.match(await fails(t, 'silent', 'labels.json', ['--timeout', '0.5']), /nothing received from .* for 0\.5 s/);
    t.ok(Date.now() - started < 30_000);
  });
}
