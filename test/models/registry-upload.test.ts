/**
 * Models uploaded at run time (POST/GET/DELETE /v1/models) on a real engine with tiny models:
 * uploads of ONNX and tfjs models that then serve, every kind of bad upload with its status and
 * reason (and the serving models untouched), 409s and replacement, a removal while an attack on
 * the model runs, persistence across a restart, concurrent uploads of one id.
 */
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { newKey, parseKeyFile } from '../../src/keys/file';
import { makePng } from '../images/fixtures';
import { isProblem, binaryParser } from '../http/helpers';
import { onnxSpec, startApp, tempDir, tinyLayersFiles, tinyOnnx } from './registry-support';

type Server = Parameters<typeof request>[0];

const upload = (server: Server, id: string, bytes = tinyOnnx(7), spec = onnxSpec(id), query = '') =>
  request(server).post(`/v1/models${query}`).field('spec', spec).attach('files', bytes, 'model.onnx');

const classify = async (server: Server, models: string) =>
  request(server).post(`/v1/classify?models=${models}&top_k=3`).set('Content-Type', 'image/png').send(await makePng(8, 8));

const attack = async (server: Server, models: string, iterations = 5) =>
  request(server)
    .post(`/v1/attack/targeted?models=${models}&target=1&method=ifgsm&eps=8&iterations=${iterations}`)
    .set('Content-Type', 'image/png')
    .buffer(true)
    .parse(binaryParser as never)
    .send(await makePng(8, 8));

/** What the store holds besides model folders: nothing (no temporary folder left behind). */
const leftovers = (store: string) => readdirSync(store).filter((n) => n.startsWith('.'));

t.test('an ONNX and a tfjs layers model upload, serve (classify, attack) and answer GET', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const { server } = await startApp(t, store);

  const res = await upload(server, 'up_onnx');
  t.equal(res.status, 201, res.text);
  t.equal(res.headers.location, '/v1/models/up_onnx');
  t.match(res.body, { id: 'up_onnx', labels: ['cat', 'dog', 'fox'], classes: 3, inputSize: [4, 4], format: 'onnx', source: `folder:${join(store, 'up_onnx')}` });
  const list = await request(server).get('/v1/models');
  t.same(list.body.models.map((m: { id: string }) => m.id), ['base_net', 'up_onnx']);
  t.same(list.body.models[1], res.body, 'the same info as the list');
  t.same((await request(server).get('/v1/models/up_onnx')).body, res.body, 'GET /v1/models/{id}');
  isProblem(t, await request(server).get('/v1/models/nope'), 404, 'unknown-model');

  const c = await classify(server, 'up_onnx');
  t.equal(c.status, 200, c.text);
  t.equal(c.body.models[0].id, 'up_onnx');
  const a = await attack(server, 'up_onnx');
  t.equal(a.status, 200, a.text?.slice(0, 200));
  t.equal(a.headers['content-type'], 'image/png');

  // tfjs: model.json + its weight file, labels from a file, the spec sent as a file part.
  const { modelJson, weights } = await tinyLayersFiles();
  const spec = JSON.stringify({ id: 'up_layers', labels: 'labels.json', inputSize: [4, 4], inputRange: [-1, 1] });
  const layers = await request(server)
    .post('/v1/models')
    .attach('spec', Buffer.from(spec), 'advserve.json')
    .attach('files', modelJson, 'model.json')
    .attach('files', weights, 'weights.bin')
    .attach('files', Buffer.from(JSON.stringify(['x', 'y', 'z'])), 'labels.json');
  t.equal(layers.status, 201, layers.text);
  t.match(layers.body, { id: 'up_layers', format: 'layers', labels: ['x', 'y', 'z'] });
  t.equal((await classify(server, 'up_layers')).status, 200);
  t.equal((await attack(server, 'up_layers')).status, 200);
  t.same(readdirSync(store).sort(), ['up_layers', 'up_onnx'], 'one folder per model, nothing else');
  t.same(readdirSync(join(store, 'up_layers')).sort(), ['advserve.json', 'labels.json', 'model.json', 'weights.bin']);
});

t.test('bad uploads: each a 4xx with its reason; the serving models give the same bytes as before; nothing left in the store', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const { server } = await startApp(t, store, { modelUploadMaxBytes: 32 * 1024 });
  const before = await attack(server, 'base_net');
  t.equal(before.status, 200);

  let body = isProblem(t, await upload(server, 'junk', Buffer.from('this is not a model')), 422, 'invalid-model');
  t.match(body.detail, /junk/);
  body = isProblem(t, await upload(server, 'erf_net', tinyOnnx(3, 3, 'Erf')), 422, 'invalid-model');
  t.match(body.detail, /operator Erf is not supported/, 'names the op');
  t.notMatch(body.detail, /\.incoming-/, 'no temporary path in the message');
  body = isProblem(t, await upload(server, 'four', tinyOnnx(3), onnxSpec('four', ['a', 'b', 'c', 'd'])), 422, 'invalid-model');
  t.match(body.detail, /4 labels|4 classes/, 'wrong label count');
  body = isProblem(t, await upload(server, 'one', tinyOnnx(3), onnxSpec('one', ['a'])), 422, 'invalid-model');
  t.match(body.detail, /field "labels"/);
  body = isProblem(t, await upload(server, 'noid', tinyOnnx(3), JSON.stringify({ labels: ['a', 'b', 'c'], inputSize: [4, 4], inputRange: [0, 1] })), 422, 'invalid-model');
  t.match(body.detail, /"id"/);
  isProblem(t, await upload(server, 'dot', tinyOnnx(3), onnxSpec('..')), 422, 'invalid-model');
  body = isProblem(t, await upload(server, 'badjson', tinyOnnx(3), '{ not json'), 422, 'invalid-model');
  t.match(body.detail, /not valid JSON/);

  for (const name of ['../x', '..', '.hidden', 'a/b.onnx', 'a\\b.onnx', '/etc/passwd']) {
    const res = await request(server).post('/v1/models').field('spec', onnxSpec('trav')).attach('files', tinyOnnx(3), { filepath: name } as never);
    body = isProblem(t, res, 400, 'invalid-parameter', 'files');
    t.match(body.detail, /file name/, `${name}: ${body.detail}`);
  }
  // The spec may only name uploaded files.
  body = isProblem(t, await upload(server, 'ref', tinyOnnx(3), JSON.stringify({ id: 'ref', file: '../base/model.onnx', labels: ['a', 'b', 'c'], inputSize: [4, 4], inputRange: [0, 1] })), 422, 'invalid-model');
  t.match(body.detail, /field "file"/);
  body = isProblem(t, await upload(server, 'lab', tinyOnnx(3), JSON.stringify({ id: 'lab', labels: 'labels.json', inputSize: [4, 4], inputRange: [0, 1] })), 422, 'invalid-model');
  t.match(body.detail, /labels\.json/);

  isProblem(t, await request(server).post('/v1/models').attach('files', tinyOnnx(3), 'model.onnx'), 400, 'invalid-parameter', 'spec');
  isProblem(t, await request(server).post('/v1/models').field('spec', onnxSpec('nofiles')), 400, 'invalid-parameter', 'files');
  isProblem(t, await request(server).post('/v1/models').field('spec', onnxSpec('x')).field('colour', 'red').attach('files', tinyOnnx(3), 'model.onnx'), 400, 'invalid-parameter', 'colour');
  isProblem(t, await request(server).post('/v1/models').set('Content-Type', 'image/png').send(await makePng(4, 4)), 415, 'unsupported-media-type');
  const big = Buffer.alloc(40 * 1024, 1);
  const tooLarge = await upload(server, 'big', tinyOnnx(3)).attach('files', big, 'extra.bin');
  body = isProblem(t, tooLarge, 413, 'payload-too-large');
  t.match(body.detail, /ADVSERVE_MODEL_UPLOAD_MAX_BYTES/);

  t.same(leftovers(store), [], 'no temporary folder left');
  t.same(readdirSync(store), [], 'no model folder either');
  const list = await request(server).get('/v1/models');
  t.same(list.body.models.map((m: { id: string }) => m.id), ['base_net']);
  const after = await attack(server, 'base_net');
  t.same(after.body, before.body, 'the serving model gives the same bytes');
});

t.test('409 on an existing id, replace=true swaps, configured models are protected', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const { server } = await startApp(t, store);
  t.equal((await upload(server, 'mine')).status, 201);
  let body = isProblem(t, await upload(server, 'mine'), 409, 'model-exists');
  t.match(body.detail, /replace=true/);
  const replaced = await upload(server, 'mine', tinyOnnx(9), onnxSpec('mine', ['p', 'q', 'r']), '?replace=true');
  t.equal(replaced.status, 201, replaced.text);
  t.same(replaced.body.labels, ['p', 'q', 'r']);
  t.same((await request(server).get('/v1/models/mine')).body.labels, ['p', 'q', 'r'], 'the new one serves');
  t.equal((await classify(server, 'mine')).body.models[0].top.length, 3);
  // The replaced model's folder goes once its jobs are done (none here): soon after the answer.
  for (let i = 0; i < 100 && leftovers(store).length; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(readdirSync(store), ['mine']);

  body = isProblem(t, await upload(server, 'base_net', tinyOnnx(9), onnxSpec('base_net'), '?replace=true'), 409, 'model-protected');
  t.match(body.detail, /ADVSERVE_MODEL_DIRS/);
  isProblem(t, await request(server).delete('/v1/models/base_net'), 409, 'model-protected');
  isProblem(t, await request(server).delete('/v1/models/nope'), 404, 'unknown-model');
  isProblem(t, await request(server).post('/v1/models?replace=maybe').field('spec', onnxSpec('x')).attach('files', tinyOnnx(3), 'model.onnx'), 400, 'invalid-parameter', 'replace');
  // A failed replacement keeps the old model serving.
  isProblem(t, await upload(server, 'mine', tinyOnnx(3, 3, 'Erf'), onnxSpec('mine', ['s', 't', 'u']), '?replace=true'), 422, 'invalid-model');
  t.same((await request(server).get('/v1/models/mine')).body.labels, ['p', 'q', 'r']);
  t.same(leftovers(store), []);
});

t.test('DELETE while an attack on the model runs: the attack finishes 200, then the model is gone', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const { server, engine } = await startApp(t, store);
  t.equal((await upload(server, 'doomed')).status, 201);
  const passes = () => Number(/advserve_batch_size_count (\d+)/.exec(engine.metricsText())?.[1] ?? 0);
  const passesBefore = passes();
  const running = attack(server, 'doomed', 1000);
  // Wait until the attack's passes run: a job slot alone is taken before the body is read, ahead
  // of the model's selection, so only a pass shows that the attack holds the model.
  for (let i = 0; i < 400 && passes() === passesBefore; i++) await new Promise((r) => setTimeout(r, 5));
  t.ok(passes() > passesBefore, 'the attack runs');
  t.match(engine.metricsText(), /advserve_jobs_active 1/, 'one job is active');
  let jobsAtDelete = '';
  const deleting = request(server).delete('/v1/models/doomed').then((res) => {
    // The attack's HTTP slot may outlive its engine job by a moment; the engine's count of
    // finished attacks shows that the job using the model was done when the delete answered.
    jobsAtDelete = /advserve_jobs_total\{kind="attack",outcome="finished"\} (\d+)/.exec(engine.metricsText())?.[1] ?? '';
    return res;
  });
  // New requests for it are refused at once, while the running one goes on.
  await new Promise((r) => setTimeout(r, 20));
  isProblem(t, await classify(server, 'doomed'), 404, 'unknown-model');
  const [a, d] = await Promise.all([running, deleting]);
  t.equal(a.status, 200, 'the running attack completes');
  t.equal(a.headers['content-type'], 'image/png');
  t.equal(d.status, 204);
  t.equal(jobsAtDelete, '1', 'the delete answered once the attack job had finished');
  isProblem(t, await request(server).get('/v1/models/doomed'), 404, 'unknown-model');
  const gone = await attack(server, 'doomed');
  t.equal(gone.status, 404);
  t.match(JSON.parse(gone.body.toString()), { type: /unknown-model$/ });
  t.notOk(existsSync(join(store, 'doomed')), 'its folder is removed');
  t.same(leftovers(store), []);
});

t.test('the store is loaded again at the next start; a broken store folder is skipped', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const first = await startApp(t, store);
  t.equal((await upload(first.server, 'kept', tinyOnnx(11))).status, 201);
  const c1 = await classify(first.server, 'kept');
  // A folder that does not load: the second start logs and skips it.
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(store, 'broken'));
  writeFileSync(join(store, 'broken', 'advserve.json'), '{"id": "broken"}');

  const second = await startApp(t, store);
  const list = await request(second.server).get('/v1/models');
  t.same(list.body.models.map((m: { id: string }) => m.id), ['base_net', 'kept']);
  const c2 = await classify(second.server, 'kept');
  t.same(c2.body, c1.body, 'same answers after the restart');
  t.equal((await request(second.server).delete('/v1/models/kept')).status, 204, 'a store model loaded at start can be removed');
});

t.test('two uploads of one id at once: one 201, the other 409, one complete folder', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const { server } = await startApp(t, store);
  const [a, b] = await Promise.all([upload(server, 'twin', tinyOnnx(5)), upload(server, 'twin', tinyOnnx(6))]);
  t.same([a.status, b.status].sort(), [201, 409], `${a.status} ${b.status}`);
  isProblem(t, a.status === 409 ? a : b, 409, 'model-exists');
  t.same(readdirSync(store), ['twin']);
  t.same(readdirSync(join(store, 'twin')).sort(), ['advserve.json', 'model.onnx']);
});

t.test('without ADVSERVE_MODEL_STORE, POST and DELETE answer 501 model-store-not-configured', async (t) => {
  const { server } = await startApp(t, undefined);
  const body = isProblem(t, await upload(server, 'x'), 501, 'model-store-not-configured');
  t.match(body.detail, /ADVSERVE_MODEL_STORE/);
  isProblem(t, await request(server).delete('/v1/models/base_net'), 501, 'model-store-not-configured');
  t.equal((await request(server).get('/v1/models/base_net')).status, 200);
});

t.test('worker pool: every worker loads the upload; a failed one leaves the workers serving as before', async (t) => {
  const store = tempDir(t, 'advserve-store-');
  const { server, engine } = await startApp(t, store, { workers: 2 });
  const before = await attack(server, 'base_net');
  isProblem(t, await upload(server, 'bad', tinyOnnx(3, 3, 'Erf')), 422, 'invalid-model');
  const res = await upload(server, 'pooled');
  t.equal(res.status, 201, res.text);
  // Both workers serve it: several batches at once spread over them.
  const answers = await Promise.all([1, 2, 3, 4].map(() => classify(server, 'pooled')));
  t.same(answers.map((r) => r.status), [200, 200, 200, 200]);
  t.same((await attack(server, 'base_net')).body, before.body, 'the serving model gives the same bytes');
  // A worker that dies is replaced by one that loads the uploaded model too (from its store folder).
  const workers = (engine.runner as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }).workers;
  await workers[0].worker.terminate();
  for (let i = 0; i < 200 && engine.runner.slots < 2; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(engine.runner.slots, 2, 'replaced');
  const again = await Promise.all([1, 2, 3, 4].map(() => classify(server, 'pooled')));
  t.same(again.map((r) => r.status), [200, 200, 200, 200], 'both workers, the new one included, serve it');
  t.equal((await request(server).delete('/v1/models/pooled')).status, 204);
  isProblem(t, await classify(server, 'pooled'), 404, 'unknown-model');
});

t.test('POST and DELETE need the admin scope when keys are configured; GET /v1/models/{id} is public', async (t) => {
  const made = [newKey('runner', ['attack']), newKey('ops', ['admin'])];
  const apiKeys = parseKeyFile(made.map((m) => m.line).join('\n'), 'test-keys');
  const store = tempDir(t, 'advserve-store-');
  const { server } = await startApp(t, store, { apiKeys });
  isProblem(t, await upload(server, 'k'), 401, 'unauthorized');
  isProblem(t, await upload(server, 'k').set('Authorization', `Bearer ${made[0].key}`), 403, 'forbidden');
  t.equal((await upload(server, 'k').set('Authorization', `Bearer ${made[1].key}`)).status, 201);
  t.equal((await request(server).get('/v1/models/k')).status, 200, 'public');
  isProblem(t, await request(server).delete('/v1/models/k'), 401, 'unauthorized');
  isProblem(t, await request(server).delete('/v1/models/k').set('Authorization', `Bearer ${made[0].key}`), 403, 'forbidden');
  t.equal((await request(server).delete('/v1/models/k').set('Authorization', `Bearer ${made[1].key}`)).status, 204);
});
