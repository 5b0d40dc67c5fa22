/**
 * Dataset jobs in embedded mode (no REDIS_URL): items run in the service process on its engine,
 * results on local disk. Tiny ONNX models keep it fast.
 */
import t from 'tap';
import request from 'supertest';
import { ZipFile } from 'yazl';
import * as tar from 'tar-stream';
import { newKey, parseKeyFile } from '../../src/keys/file';
import { isProblem } from '../http/helpers';
import { apiSuite, FIELDS, type SuiteContext } from './api-suite';
import { auth, evalReport, jobApp, modelDirs, pngs, sameReport, submit, waitJob } from './support';

const alice = newKey('alice', ['attack', 'admin']);
const bob = newKey('bob', ['attack']);
const apiKeys = parseKeyFile([alice.line, bob.line].join('\n'), 'test-keys');

let ctx: SuiteContext & { app: Awaited<ReturnType<typeof jobApp>> };

t.before(async () => {
  const dirs = modelDirs(t);
  const app = await jobApp(t, dirs, { apiKeys, jobMaxImages: 8, jobMaxQueued: 40 });
  ctx = { server: app.server, engine: app.engine, keys: { alice: alice.key, bob: bob.key }, app };
});

apiSuite(t, () => ctx);

async function zipOf(files: { name: string; data: Buffer }[]): Promise<Buffer> {
  const zip = new ZipFile();
  for (const f of files) zip.addBuffer(f.data, f.name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tarOf(files: { name: string; data: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.name }, f.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

t.test('an archive (zip or tar) gives the same report as the images sent one by one', async (t) => {
  const { server, engine, keys } = ctx;
  const images = await pngs(['x/1.png', 'x/2.png']);
  const fields = { ...FIELDS, methods: 'fgsm', mode: 'untargeted' };
  const want = await evalReport(engine, images, fields);
  const notes = { name: 'x/readme.txt', data: Buffer.from('not an image') };
  for (const [kind, archive] of [['zip', await zipOf([images[1], notes, images[0]])], ['tar', await tarOf([images[1], images[0], notes])]] as const) {
    let req = request(server).post('/v1/jobs').set(auth(keys.alice));
    for (const [k, v] of Object.entries(fields)) req = req.field(k, v);
    const res = await req.attach('archive', archive, `images.${kind}`);
    t.equal(res.status, 202, `${kind}: ${res.text}`);
    t.equal((await waitJob(server, res.body.id, keys.alice)).status, 'done');
    const report = await request(server).get(`/v1/jobs/${res.body.id}/report`).set(auth(keys.alice));
    sameReport(t, report.body, want, kind);
  }
});

t.test('bad input: a 4xx problem, and no job', async (t) => {
  const { server, keys } = ctx;
  const two = await pngs(['a.png', 'b.png']);
  const bad: Array<[string, Record<string, string>, number, string, string?]> = [
    ['unknown method', { methods: 'fgsm,cw' }, 400, 'invalid-parameter', 'methods'],
    ['bad mode', { mode: 'sideways' }, 400, 'invalid-parameter', 'mode'],
    ['eps 0', { eps: '0' }, 400, 'invalid-parameter', 'eps'],
    ['iterations 1.5', { iterations: '1.5' }, 400, 'invalid-parameter', 'iterations'],
    ['unknown defense model', { defenses: 'jpeg75+nope' }, 404, 'unknown-model', 'defenses'],
    ['unknown attack model', { attack_models: 'nope' }, 400, 'invalid-parameter', 'attack_models'],
    ['labels count', { labels: 'cat' }, 400, 'invalid-parameter', 'labels'],
    ['unknown label', { labels: 'cat,unicorn' }, 400, 'unknown-label', 'labels'],
    ['targets untargeted', { targets: 'dog,dog', mode: 'untargeted' }, 400, 'invalid-parameter', 'targets'],
    ['unknown field', { epsilon: '3' }, 400, 'invalid-parameter', 'epsilon'],
  ];
  for (const [_what, fields, status, type, param] of bad) isProblem(t, await submit(server, two, { methods: 'fgsm', defenses: 'net_a', ...fields }, keys.alice), status, type, param);
  isProblem(t, await submit(server, [], { methods: 'fgsm' }, keys.alice), 400, 'missing-image');
  isProblem(t, await submit(server, await pngs(Array.from({ length: 9 }, (_, i) => `${i}.png`)), { methods: 'fgsm' }, keys.alice), 413, 'payload-too-large');
  isProblem(t, await submit(server, [two[0], { ...two[1], name: 'a.png' }], { methods: 'fgsm' }, keys.alice), 400, 'invalid-parameter', 'images');
  const notArchive = await request(server).post('/v1/jobs').set(auth(keys.alice)).attach('archive', Buffer.from('plain text, no archive'), 'x.zip');
  isProblem(t, notArchive, 415, 'unsupported-media-type');
  isProblem(t, await request(server).post('/v1/jobs').set(auth(keys.alice)).set('Content-Type', 'image/png').send(two[0].data), 415, 'unsupported-media-type');
  isProblem(t, await request(server).get('/v1/jobs/no-such-job').set(auth(keys.alice)), 404, 'not-found');
  isProblem(t, await request(server).get(`/v1/jobs/x/report?format=pdf`).set(auth(keys.alice)), 400, 'invalid-parameter');
  const metrics = (await request(server).get('/metrics').set(auth(keys.alice))).text;
  t.match(metrics, /advserve_job_items_queued 0\n/, 'nothing was queued');
});

t.test('back-pressure: a key over ADVSERVE_JOB_MAX_QUEUED items gets 429, others do not', async (t) => {
  const { server, keys } = ctx;
  const images = await pngs(['a.png', 'b.png', 'c.png', 'd.png', 'e.png', 'f.png', 'g.png', 'h.png'], [64, 48]);
  const slow = { methods: 'ifgsm,ifgsm+alpha2,pgd,mi-fgsm', defenses: 'net_a', eps: '8', iterations: '1000', seed: '0' };
  const oversized = await submit(server, images, { ...slow, methods: `${slow.methods},fgsm,none` }, keys.alice); // 48 items > 40
  isProblem(t, oversized, 429, 'queue-full');
  const first = await submit(server, images, slow, keys.alice); // 32 items, 1000 iterations each: far from done next
  t.equal(first.status, 202);
  const second = await submit(server, images.slice(0, 4), slow, keys.alice); // 16 more: over 40 while the first waits
  const body = isProblem(t, second, 429, 'queue-full');
  t.ok(second.headers['retry-after'], 'Retry-After');
  t.match(body.detail, /ADVSERVE_JOB_MAX_QUEUED/);
  const other = await submit(server, images.slice(0, 1), { ...slow, methods: 'fgsm', iterations: '1' }, keys.bob);
  t.equal(other.status, 202, 'another key is not held up');
  t.equal((await request(server).delete(`/v1/jobs/${first.body.id}`).set(auth(keys.alice))).status, 204);
  t.equal((await waitJob(server, other.body.id, keys.bob)).status, 'done');
});
