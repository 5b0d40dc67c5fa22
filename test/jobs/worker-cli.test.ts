/** `advserve worker` refuses to start without REDIS_URL or with arguments (exit 2, usage), before loading any model. */
import t from 'tap';
import { workerCommand } from '../../src/jobs/worker';

t.test('usage errors', async (t) => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (written.push(s), true)) as typeof process.stderr.write;
  try {
    t.equal(await workerCommand([], {}), 2, 'no REDIS_URL');
    t.equal(await workerCommand(['--concurrency', '3'], { REDIS_URL: 'redis://127.0.0.1:1' }), 2, 'an argument');
  } finally {
    process.stderr.write = write;
  }
  t.match(written.join(''), /REDIS_URL is not set[\s\S]*usage: REDIS_URL=/);
  t.match(written.join(''), /unexpected argument "--concurrency"/);
});
