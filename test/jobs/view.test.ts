/**
 * The job status view (src/jobs/report.ts jobView): a store writes an item's result first and the
 * job's finishedAt after it, so a reader can see every item done before finishedAt is recorded;
 * the view must still say when the job finished (it did when its last item did).
 */
import t from 'tap';
import { jobView } from '../../src/jobs/report';
import type { ItemResult, JobRecord } from '../../src/jobs/types';

const job: JobRecord = {
  id: 'j1',
  owner: 'anonymous',
  createdAt: '2026-12-04T04:00:00.000Z',
  settings: { methods: ['fgsm', 'none'], defenses: [], attackModels: ['m'], labelModels: ['m'], targeted: true, eps: 16, iterations: 1, seed: 1 },
  images: ['a.png'],
  classes: ['x', 'y'],
  backend: 'wasm',
};
const item = (method: number, finishedAt: string): ItemResult => ({ image: 0, method, verdict: { clean: 0, target: 1 }, finishedAt });
const started = { startedAt: '2026-12-04T04:00:01.000Z' };

t.test('every item done but finishedAt not yet recorded: the last item finished the job', async (t) => {
  const results = [item(0, '2026-12-04T04:00:09.000Z'), item(1, '2026-12-04T04:00:05.000Z')];
  const view = jobView(job, started, results, Date.parse('2026-12-04T04:01:00.000Z'));
  t.equal(view.status, 'done');
  t.equal(view.finishedAt, '2026-12-04T04:00:09.000Z');
  t.equal(view.elapsedSeconds, 9, 'elapsed up to the last item, not up to now');
});

t.test('a recorded finishedAt is kept; a job still running has none', async (t) => {
  const results = [item(0, '2026-12-04T04:00:09.000Z'), item(1, '2026-12-04T04:00:05.000Z')];
  t.equal(jobView(job, { ...started, finishedAt: '2026-12-04T04:00:10.000Z' }, results).finishedAt, '2026-12-04T04:00:10.000Z');
  const running = jobView(job, started, results.slice(0, 1), Date.parse('2026-12-04T04:00:30.000Z'));
  t.equal(running.status, 'running');
  t.equal(running.finishedAt, undefined);
  t.equal(running.elapsedSeconds, 30);
});
