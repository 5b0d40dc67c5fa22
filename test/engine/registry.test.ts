/**
 * The attack registry is the one declaration of every method's options: each option appears in
 * the HTTP schema (openapi.yaml, both attack routes, query and form), the CLI's help, and the
 * eval grammar, with the registry's range; the methods that share an option name agree on it.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { checkOption, describeRange, type AttackDefinition } from '../../src/engine/attacks/definition';
import { allOptions, ATTACKS, optionSchemas } from '../../src/engine/attacks/registry';
import { grammarHelp, parseMethod } from '../../src/eval/methods';

const ROOT = join(__dirname, '..', '..');
type Schema = { type?: string; enum?: unknown[]; minimum?: number; maximum?: number; exclusiveMinimum?: number; default?: unknown };

/** A valid value of the option other than its default. */
function sample(s: Schema): unknown {
  if (s.type === 'boolean') return true;
  if (s.enum) return s.enum.find((v) => v !== s.default && v !== 0) ?? s.enum[0];
  const lo = s.minimum ?? s.exclusiveMinimum ?? 0;
  const v = s.type === 'integer' ? Math.max(lo + 1, 2) : lo + 0.5;
  return s.maximum !== undefined ? Math.min(v, s.maximum) : v;
}

t.test('every registry option is an HTTP parameter of both attack routes, with the same range (openapi.yaml)', async (t) => {
  const doc = parse(readFileSync(join(ROOT, 'openapi.yaml'), 'utf8'));
  for (const path of ['/v1/attack/targeted', '/v1/attack/untargeted']) {
    const op = doc.paths[path].post;
    const query = Object.fromEntries(op.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string; schema: Schema }) => [p.name, p.schema]));
    const form = op.requestBody.content['multipart/form-data'].schema.properties;
    for (const o of allOptions()) {
      const s = o.schema as Schema;
      for (const [where, got] of [['query', query[o.name]], ['form', form[o.name]]] as const) {
        if (!got) {
          t.fail(`${path} ${where}: no parameter ${o.name}`);
          continue;
        }
        t.equal(got.type, s.type, `${path} ${where} ${o.name}: type`);
        t.same(got.enum, s.enum, `${path} ${where} ${o.name}: values`);
        t.equal(got.maximum, s.maximum, `${path} ${where} ${o.name}: maximum`);
      }
    }
  }
});

t.test("every registry option is a flag in the CLI's help, with its range", async (t) => {
  const res = spawnSync(process.execPath, [join(ROOT, 'bin', 'advserve.js'), '--help'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(res.status, 0, res.stderr);
  for (const o of allOptions()) {
    const boolean = (o.schema as Schema).type === 'boolean';
    t.match(res.stdout, boolean ? `--${o.name}  ` : `--${o.name} V  `, `--${o.name} is listed`);
    if (!boolean) t.match(res.stdout, describeRange(o.schema), `--${o.name}: its range`);
  }
  for (const d of ATTACKS) t.match(res.stdout, d.id, `method ${d.id} is listed`);
});

t.test('every registry option is in the eval grammar, and a method takes each of its options there', async (t) => {
  const help = grammarHelp();
  for (const d of ATTACKS as readonly AttackDefinition[]) {
    for (const [name, schema] of Object.entries(optionSchemas(d))) {
      const s = schema as Schema;
      const value = sample(s);
      t.equal(checkOption(name, value, schema), undefined, `${name}=${String(value)} is valid`);
      const token = s.type === 'boolean' ? name : s.enum && s.type === 'string' ? String(value) : `${name}${String(value)}`;
      t.match(help, s.type === 'boolean' ? `+${name}` : s.enum && s.type === 'string' ? `+${String(value)}` : `+${name}N`, `${name}: in the grammar's help`);
      const spec = parseMethod(`${d.id}+${token}`);
      t.same((spec.params as Record<string, unknown>)[name], value, `${d.id}+${token} sets ${name}`);
    }
  }
});

t.test('methods that share an option agree on its type and range; each has a paper and a factory', async (t) => {
  for (const o of allOptions()) {
    if (o.modifier) continue;
    const ranges = new Set(
      (ATTACKS as readonly AttackDefinition[])
        .filter((d) => o.name in d.options.properties)
        .map((d) => {
          const { type, minimum, maximum, exclusiveMinimum } = d.options.properties[o.name] as Schema;
          return JSON.stringify({ type, minimum, maximum, exclusiveMinimum });
        }),
    );
    t.equal(ranges.size, 1, `${o.name}: one type and range across ${o.methods.map((m) => m.id).join(', ')}`);
  }
  for (const d of ATTACKS as readonly AttackDefinition[]) {
    t.match(d.paper, { authors: String, year: Number, title: String, url: /^https:\/\// }, `${d.id}: paper`);
    t.equal(d.create({}).name, d.id, `${d.id}: the factory makes that method`);
  }
});

t.test("the README's methods table is the registry's (scripts/methods-table.ts)", async (t) => {
  const { methodsTable } = await import('../../scripts/methods-table');
  t.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(`${methodsTable()}\n`), 'README.md has the table as generated: run npx tsx scripts/methods-table.ts and paste it');
});
