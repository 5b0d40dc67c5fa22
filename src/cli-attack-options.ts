/**
 * The `advserve attack` flags for the registry's options (src/engine/attacks/registry.ts): one
 * flag per option, named as the HTTP parameter, parsed to the option's type and checked with the
 * registry's checkOption, and their help lines.
 */
import { checkOption, describeRange, parseOptionText, type OptionValue } from './engine/attacks/definition';
import { allOptions, describeOption } from './engine/attacks/registry';

type FlagSpec = { type: 'string' } | { type: 'boolean' };

export function registryFlags(): Record<string, FlagSpec> {
  return Object.fromEntries(allOptions().map((o) => [o.name, (o.schema as { type?: string }).type === 'boolean' ? { type: 'boolean' } : { type: 'string' }]));
}

/** The given flags as option values; a value the schema refuses is `fail(message)`. */
export function registryValues(values: Record<string, unknown>, fail: (message: string) => never): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  for (const o of allOptions()) {
    const raw = values[o.name];
    if (raw === undefined) continue;
    const value = typeof raw === 'string' ? parseOptionText(raw, o.schema) : raw;
    const why = checkOption(o.name, value, o.schema);
    if (why) fail(`--${why}, not "${String(raw)}"`);
    out[o.name] = value as OptionValue;
  }
  return out;
}

/** Help lines: `--name VALUE  description (range)`. */
export function registryHelp(): string {
  return allOptions()
    .map((o) => {
      const boolean = (o.schema as { type?: string }).type === 'boolean';
      return `  --${o.name}${boolean ? '' : ' V'}  ${describeOption(o)}${boolean ? '' : ` (${describeRange(o.schema)})`}`;
    })
    .join('\n');
}
