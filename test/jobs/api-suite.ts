/**
 * The dataset job API tests that both modes must pass (embedded: test/jobs/embedded.test.ts;
 * Redis + worker processes: test/jobs/redis.test.ts): the report equals `advserve eval`'s, a bad
 * image fails only its items, images and zip, live events, key isolation, cancel.
 */
import type { Test } from 'tap';
import request from 'supertest';
import type { Server } from 'node:http';
import * as yauzl from 'yauzl';
import sharp from 'sharp';
import type { Engine } from '../../src/engine/engine';
import { binaryParser, isProblem } from '../http/helpers';
import { auth, evalReport, pngs, sameReport, submit, waitJob, waitRunning, type JobFieldsIn, type JsonBody } from './support';

export interface SuiteContext {
  server: Server;
  /** An engine with the same models as whatever runs the items, for the eval report to compare with. */
  engine: Engine;
  /** alice: scopes attack and admin; bob: attack. */
  keys: { alice: string; bob: string };
}

const zipNames = (data: Buffer) =>
  new Promise<string[]>((resolve, reject) =>
    yauzl.fromBuffer(data, { lazyEntries: false }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => names.push(e.fileName));
      zip.on('end', () => resolve(names.sort()));
      zip.on('error', reject);
    }),
  );

export const FIELDS: JobFieldsIn = { methods: 'none,fgsm,mi-fgsm+di', defenses: 'net_a,net_b,bits3+net_b', eps: '8', iterations: '3', seed: '4' };

/** Reads a server-sent event stream to its end. */
async function events(server: Server, path: string, key: string): Promise<Array<{ event: string; data: JsonBody }>> {
  const res = await request(server).get(path).set(auth(key)).buffer(true).parse((r, cb) => {
    let text = '';
    r.setEncoding('utf8');
    r.on('data', (c: string) => (text += c));
    r.on('end', () => cb(null, text));
  });
  return (res.body as string)
    .split('\n\n')
    .filter((b) => b.startsWith('event:'))
    .map((b) => ({ event: /^event: (.*)$/m.exec(b)![1], data: JSON.parse(/^data: (.*)$/m.exec(b)![1]) }));
}

export function apiSuite(t: Test, context: () => SuiteContext): void {
  t.test('a job gives the report advserve eval gives; a bad image fails only its items', async (t) => {
    const { server, engine, keys } = context();
    const good = await pngs(['a.png', 'b.png', 'c.png']);
    const bad = { name: 'bad.png', data: Buffer.from('this is not a png') };
    const res = await submit(server, [...good, bad], { ...FIELDS }, keys.alice);
    t.equal(res.status, 202, res.text);
    t.match(res.body, { id: String, status: 'queued', links: { self: `/v1/jobs/${res.body.id}` } });
    t.equal(res.headers.location, `/v1/jobs/${res.body.id}`);
    const id = res.body.id as string;

    const live = events(server, `/v1/jobs/${id}/events`, keys.alice);
    const status = await waitJob(server, id, keys.alice);
    t.equal(status.status, 'done');
    t.match(status.progress, { images: 4, total: 12, done: 12, failed: 3 });
    t.same(status.progress.methods.map((m: { method: string; done: number; failed: number }) => `${m.method} ${m.done} ${m.failed}`), ['none 4 1', 'fgsm 4 1', 'mi-fgsm+di 4 1']);
    t.same(status.errors.map((e: { name: string; method: string }) => `${e.name} ${e.method}`), ['bad.png none', 'bad.png fgsm', 'bad.png mi-fgsm+di']);
    t.match(status.errors[0].reason, /decod|image|PNG/i);
    t.ok(status.startedAt && status.finishedAt, 'timing');

    const stream = await live;
    t.ok(stream.length >= 1, 'events were sent');
    t.equal(stream[stream.length - 1].event, 'status');
    t.equal(stream[stream.length - 1].data.status, 'done', 'the stream ends with the final status');

    const report = await request(server).get(`/v1/jobs/${id}/report?format=json`).set(auth(keys.alice));
    t.equal(report.status, 200);
    const want = await evalReport(engine, good, FIELDS);
    sameReport(t, report.body, want, 'job vs advserve eval');
    t.same(report.body.errors.map((e: { image: string }) => e.image), ['bad.png', 'bad.png', 'bad.png'], 'failed items in the report');
    const md = await request(server).get(`/v1/jobs/${id}/report?format=md`).set(auth(keys.alice));
    t.match(md.headers['content-type'], /^text\/markdown/);
    t.match(md.text, /## items that failed/);
    const csv = await request(server).get(`/v1/jobs/${id}/report?format=csv`).set(auth(keys.alice));
    t.match(csv.text, /^method,defense,n,hits,misses/);

    const png = await request(server).get(`/v1/jobs/${id}/images/1?method=fgsm`).set(auth(keys.alice)).buffer(true).parse(binaryParser as never);
    t.equal(png.status, 200);
    t.equal(png.headers['content-type'], 'image/png');
    t.match(await sharp(png.body).metadata(), { width: 12, height: 10 });
    isProblem(t, await request(server).get(`/v1/jobs/${id}/images/1`).set(auth(keys.alice)), 400, 'invalid-parameter', 'method');
    isProblem(t, await request(server).get(`/v1/jobs/${id}/images/3?method=fgsm`).set(auth(keys.alice)), 404, 'not-found');
    isProblem(t, await request(server).get(`/v1/jobs/${id}/images/9?method=fgsm`).set(auth(keys.alice)), 404, 'not-found');
    const zip = await request(server).get(`/v1/jobs/${id}/images.zip`).set(auth(keys.alice)).buffer(true).parse(binaryParser as never);
    t.equal(zip.status, 200);
    t.same(await zipNames(zip.body), ['a', 'b', 'c'].flatMap((n) => ['fgsm', 'mi-fgsm+di', 'none'].map((m) => `${m}/${n}.png`)).sort());

    t.test('key isolation: another key gets 404, no key 401', async (t) => {
      for (const path of [`/v1/jobs/${id}`, `/v1/jobs/${id}/report`, `/v1/jobs/${id}/images.zip`, `/v1/jobs/${id}/images/0?method=fgsm`, `/v1/jobs/${id}/events`]) {
        isProblem(t, await request(server).get(path).set(auth(keys.bob)), 404, 'not-found');
      }
      isProblem(t, await request(server).delete(`/v1/jobs/${id}`).set(auth(keys.bob)), 404, 'not-found');
      isProblem(t, await request(server).get(`/v1/jobs/${id}`), 401, 'unauthorized');
      t.equal((await request(server).get(`/v1/jobs/${id}`).set(auth(keys.alice))).body.status, 'done', 'still there for its owner');
    });
  });

  t.test('cancel: running items stop, waiting ones are dropped, results are deleted', async (t) => {
    const { server, keys } = context();
    const images = await pngs(['p.png', 'q.png', 'r.png', 's.png', 't.png', 'u.png'], [48, 40]);
    const res = await submit(server, images, { methods: 'ifgsm', defenses: 'net_a', eps: '8', iterations: '1000', seed: '1' }, keys.alice);
    t.equal(res.status, 202, res.text);
    const id = res.body.id as string;
    await waitRunning(server, id, keys.alice, 15_000);
    const del = await request(server).delete(`/v1/jobs/${id}`).set(auth(keys.alice));
    t.equal(del.status, 204);
    const after = await request(server).get(`/v1/jobs/${id}`).set(auth(keys.alice));
    t.equal(after.body.status, 'cancelled');
    t.ok(after.body.progress.done < 6, `cancelled before the end (${after.body.progress.done} of 6 done)`);
    isProblem(t, await request(server).get(`/v1/jobs/${id}/report`).set(auth(keys.alice)), 404, 'not-found');
    isProblem(t, await request(server).get(`/v1/jobs/${id}/images/0?method=ifgsm`).set(auth(keys.alice)), 404, 'not-found');
    // Nothing of it runs or waits any more (a running item stops at its next iteration).
    let metrics = '';
    for (let i = 0; i < 100; i++) {
      metrics = (await request(server).get('/metrics').set(auth(keys.alice))).text;
      if (/advserve_job_items_running 0\n/.test(metrics) && /advserve_job_items_queued 0\n/.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.match(metrics, /advserve_job_items_running 0\n/, 'no item running');
    t.match(metrics, /advserve_job_items_queued 0\n/, 'no item queued');
    const later = await request(server).get(`/v1/jobs/${id}`).set(auth(keys.alice));
    t.equal(later.body.progress.done, 0, 'no result came in after the cancel (they were deleted, and none was added)');
  });
}
