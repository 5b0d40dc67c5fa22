/**
 * The README's methods table, from the attack registry (test/engine/registry.test.ts checks the
 * README has it as printed here): npx tsx scripts/methods-table.ts
 */
import type { AttackDefinition } from '../src/engine/attacks/definition';
import { describeRange } from '../src/engine/attacks/definition';
import { ATTACKS } from '../src/engine/attacks/registry';

export function methodsTable(): string {
  const rows = (ATTACKS as readonly AttackDefinition[]).map((d) => {
    const options = Object.entries(d.options.properties).map(([name, schema]) => {
      const s = schema as { default?: unknown; description?: string };
      const fallback = s.default ?? s.description?.match(/\(default ([^)]*)\)/)?.[1] ?? 'computed';
      return `\`${name}\` ${String(fallback)} (${describeRange(schema)})`;
    });
    return `| \`${d.id}\` | [${d.paper.authors} ${d.paper.year}](${d.paper.url}) | ${d.summary} | ${options.join('; ') || '—'} |`;
  });
  return ['| method | paper | what a step does | options: default (range) |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

if (require.main === module) process.stdout.write(`${methodsTable()}\n`);
