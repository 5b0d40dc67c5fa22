import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { goldenEngine, runGolden } from '../support/golden-cases';
import { useBackend } from '../support/tiny';

// Behaviour preservation: every existing method and option gives the same output bytes as the
// recorded fixture (scripts/golden-attacks.ts wrote it).
t.before(() => useBackend());

t.test('every method and option gives the recorded output bytes', async (t) => {
  const expected = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'golden-attacks.json'), 'utf8'));
  const engine = goldenEngine();
  const actual = await runGolden(engine);
  await engine.dispose();
  t.same(Object.keys(actual).sort(), Object.keys(expected).sort(), 'the same cases');
  for (const name of Object.keys(expected)) t.same(actual[name], expected[name], name);
});
