/**
 * Records the golden attack outputs (test/support/golden-cases.ts) from the code as it is now:
 * npx tsx scripts/golden-attacks.ts > test/engine/fixtures/golden-attacks.json
 * Run it only when an output is meant to change, and say why in the commit.
 */
import { goldenEngine, runGolden } from '../test/support/golden-cases';
import { useBackend } from '../test/support/tiny';

async function main(): Promise<void> {
  await useBackend();
  const engine = goldenEngine();
  const out = await runGolden(engine);
  await engine.dispose();
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
