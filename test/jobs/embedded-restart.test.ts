/**
 * Embedded mode across a restart: a service that stops mid-job leaves the job on disk, and the
 * next one (on the same ADVSERVE_JOB_DIR) runs the unfinished items, with the same report; jobs
 * are removed ADVSERVE_JOB_TTL after they end.
 */
import t from 'tap';
import request from 'supertest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import { DiskJobStore } from '../../src/jobs/disk-store';
import { quiet } from '../models/registry-support';
import { evalReport, modelDirs, modelEnv, pngs, sameReport, submit, tempDir, waitJob, waitRunning } from './support';

t.test('a restart mid-job: the new service finishes the job, same report', async (t) => {
  const dirs = modelDirs(t);
  const jobDir = tempDir(t, 'advserve-jobs-');
  const config = loadConfig({ ...modelEnv(dirs), ADVSERVE_JOB_DIR: jobDir, ADVSERVE_JOB_CONCURRENCY: '2' });
  const engine = await createEngine(config, quiet);
  t.teardown(() => engine.dispose());

  const images = await pngs(['r1.png', 'r2.png', 'r3.png', 'r4.png'], [32, 24]);
  const fields = { methods: 'ifgsm', defenses: 'net_a,net_b', eps: '8', iterations: '400', seed: '5' };
  const first = await buildApp({ engine, config, logger: false });
  const res = await submit(first.server, images, fields);
  t.equal(res.status, 202);
  const id = res.body.id as string;
  await waitRunning(first.server, id, undefined, 10_000);
  await first.close(); // the running items are stopped, nothing of them is stored
  const store = new DiskJobStore(jobDir, 1000);
  const left = (await store.results(id)).length;
  t.ok(left < 4, `stopped mid-job (${left} of 4 items stored)`);

  const second = await buildApp({ engine, config, logger: false, resumeJobs: true });
  t.teardown(() => second.close());
  const status = await waitJob(second.server, id);
  t.equal(status.status, 'done');
  t.equal(status.progress.done, 4);
  const report = await request(second.server).get(`/v1/jobs/${id}/report`);
  sameReport(t, report.body, await evalReport(engine, images, fields), 'after the restart');

  // TTL: gone once it has been over for longer than the TTL, not before.
  await store.sweep(Date.parse(status.finishedAt) + 500);
  t.ok(existsSync(join(jobDir, id)), 'kept within the TTL');
  await store.sweep(Date.parse(status.finishedAt) + 1500);
  t.notOk(readdirSync(jobDir).includes(id), 'removed after the TTL');
  t.equal((await request(second.server).get(`/v1/jobs/${id}`)).status, 404);
});
