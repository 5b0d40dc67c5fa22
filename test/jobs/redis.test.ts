/**
 * Dataset jobs on Redis: the API (this process, REDIS_URL set) queues one BullMQ item per
 * (image, method); two `advserve worker` processes run them. The same API tests as the embedded
 * mode, then faults: a worker killed with SIGKILL mid-job (BullMQ's stalled-job check gives its
 * items to the other worker, and the report is still eval's), and Redis going away (the API
 * answers 503; once Redis is back, the workers take new items again).
 */
import t from 'tap';
import request from 'supertest';
import { newKey, parseKeyFile } from '../../src/keys/file';
import { isProblem } from '../http/helpers';
import { redisMissing, startRedis, type RedisServer } from '../support/redis';
import { apiSuite, type SuiteContext } from './api-suite';
import { auth, evalReport, jobApp, modelDirs, modelEnv, pngs, sameReport, spawnWorker, submit, waitJob, waitRunning, type WorkerProcess } from './support';

const missing = redisMissing();
if (missing) {
  t.comment(missing);
  t.pass('skipped: no redis-server');
} else {
  const alice = newKey('alice', ['attack', 'admin']);
  const bob = newKey('bob', ['attack']);
  const apiKeys = parseKeyFile([alice.line, bob.line].join('\n'), 'test-keys');
  /** Short locks, so that a dead worker's items come back within a second or two. */
  const LOCK_MS = 1000;
  let ctx: SuiteContext;
  let redis: RedisServer;
  let workerEnv: NodeJS.ProcessEnv;
  const workers: WorkerProcess[] = [];

  t.before(async () => {
    redis = await startRedis(t);
    const dirs = modelDirs(t);
    workerEnv = { ...modelEnv(dirs), REDIS_URL: redis.url, ADVSERVE_JOB_LOCK_MS: String(LOCK_MS), ADVSERVE_JOB_CONCURRENCY: '4' };
    workers.push(spawnWorker(t, workerEnv), spawnWorker(t, workerEnv));
    const app = await jobApp(t, dirs, { apiKeys, redisUrl: redis.url, jobLockMs: LOCK_MS });
    await Promise.all(workers.map((w) => w.ready));
    ctx = { server: app.server, engine: app.engine, keys: { alice: alice.key, bob: bob.key } };
  });

  apiSuite(t, () => ctx);

  t.test('a worker killed (SIGKILL) mid-job: its items run again on the other worker, same report', async (t) => {
    const { server, engine, keys } = ctx;
    const images = await pngs(['k1.png', 'k2.png', 'k3.png', 'k4.png', 'k5.png', 'k6.png', 'k7.png', 'k8.png'], [48, 40]);
    const fields = { methods: 'ifgsm', defenses: 'net_a,net_b', eps: '8', iterations: '500', seed: '2' };
    const retriedBefore = Number(/advserve_job_items_retried_total (\d+)/.exec((await request(server).get('/metrics').set(auth(keys.alice))).text)?.[1]);
    const res = await submit(server, images, fields, keys.alice);
    t.equal(res.status, 202, res.text);
    const id = res.body.id as string;
    // Both workers take items at once (4 each); kill the first while the job runs.
    await waitRunning(server, id, keys.alice, 10_000);
    const before = (await request(server).get(`/v1/jobs/${id}`).set(auth(keys.alice))).body.progress.done;
    workers[0].child.kill('SIGKILL');
    await workers[0].exited;
    t.ok(before < 8, `killed mid-job (${before} of 8 items done)`);
    const status = await waitJob(server, id, keys.alice, 120_000);
    t.equal(status.status, 'done');
    t.equal(status.progress.failed, 0, 'no item failed');
    const retriedAfter = Number(/advserve_job_items_retried_total (\d+)/.exec((await request(server).get('/metrics').set(auth(keys.alice))).text)?.[1]);
    t.ok(retriedAfter > retriedBefore, `items were run again (retried ${retriedBefore} -> ${retriedAfter})`);
    const report = await request(server).get(`/v1/jobs/${id}/report`).set(auth(keys.alice));
    sameReport(t, report.body, await evalReport(engine, images, fields), 'after the kill');
  });

  t.test('Redis gone: the API answers 503; back: the workers take items again', async (t) => {
    const { server, keys } = ctx;
    await redis.stop();
    isProblem(t, await request(server).get('/v1/jobs/whatever').set(auth(keys.alice)), 503, 'jobs-unavailable');
    const images = await pngs(['z.png']);
    const fields = { methods: 'fgsm', defenses: 'net_a', eps: '8', iterations: '1', seed: '0' };
    const refused = await submit(server, images, fields, keys.alice);
    isProblem(t, refused, 503, 'jobs-unavailable');
    t.ok(refused.headers['retry-after'], 'Retry-After');
    t.match((await request(server).get('/metrics').set(auth(keys.alice))).text, /advserve_job_store_up 0/);

    redis = await startRedis(t, redis.port);
    let res;
    for (let i = 0; i < 100; i++) {
      res = await submit(server, images, fields, keys.alice);
      if (res.status === 202) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(res!.status, 202, 'the API works again');
    t.equal((await waitJob(server, res!.body.id, keys.alice, 60_000)).status, 'done', 'the surviving worker reconnected and ran it');
  });
}
