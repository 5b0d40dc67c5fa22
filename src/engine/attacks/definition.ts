/**
 * What every attack method declares once (as Foolbox and ART do): its id, title, paper, its
 * options as one TypeBox object (each with its range, description and, where fixed, its default),
 * the shared modifiers it takes, and a factory. The HTTP schemas, the OpenAPI document, the CLI's
 * flags, the eval grammar and the engine's validation are all derived from these declarations
 * (./registry); `checkOption` is the one validation function the hand-written front ends use.
 */
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import type { IterativeAttack } from './base';

/** A string enum as a plain JSON-schema `enum` (a TypeBox Union of literals gives poor anyOf errors). */
export const StringEnum = <T extends readonly string[]>(values: T, opts: Record<string, unknown> = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });

/**
 * The per-model objective whose gradient the attacks follow. `ce`: the class's cross-entropy
 * (log-softmax). `logit`: the class's raw logit (Zhao et al. 2021, "On Success and Simplicity:
 * A Second Look at Transferable Targeted Attacks", https://arxiv.org/abs/2012.11207): it does
 * not saturate once the attacked models are sure. `margin`: the C&W margin (Carlini & Wagner
 * 2017, https://arxiv.org/abs/1608.04644), min(z_c - max_{j != c} z_j, kappa): it stops pushing an
 * image once the class leads (or trails) by kappa logits.
 */
export const ATTACK_LOSSES = ['ce', 'logit', 'margin'] as const;
export type AttackLoss = (typeof ATTACK_LOSSES)[number];

/** TI kernel sizes: 0 (off) or odd, 3..31. "Odd" has no JSON-schema keyword, so the sizes are listed. */
export const TI_SIZES = [0, ...Array.from({ length: 15 }, (_, i) => 3 + 2 * i)] as const;

/** The shared modifiers, each a set of options any method that takes it accepts. */
export const MODIFIERS = {
  di: {
    di: Type.Boolean({ default: false, description: 'Diverse inputs (Xie et al. 2019, https://arxiv.org/abs/1803.06978): random resize [1, 1.1) and pad before each gradient, p = 0.5.' }),
  },
  ti: {
    ti: Type.Unsafe<number>({
      type: 'integer',
      enum: [...TI_SIZES],
      default: 0,
      description: 'Translation-invariant gradient smoothing (Dong et al. 2019, https://arxiv.org/abs/1904.02884): Gaussian kernel size, odd from 3 to 31 (7 or 15 typical); 0 = off.',
    }),
  },
  loss: {
    loss: StringEnum(ATTACK_LOSSES, {
      default: 'ce',
      description: 'Objective per model: ce (cross-entropy), logit (the class logit; Zhao et al. 2021, for targeted transfer) or margin (C&W margin, Carlini & Wagner 2017: min(z_c - max_{j!=c} z_j, kappa)).',
    }),
    kappa: Type.Number({ minimum: 0, maximum: 100, default: 0, description: 'loss=margin: the logit lead at which an image stops being pushed (C&W confidence).' }),
  },
  stop: {
    early_stop: Type.Integer({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        'Stop once the attacked models\' ensemble has met the goal (target reached, or label changed) for this many consecutive iterations, judged on the gradient passes\' own predictions (iterations with a diverse-inputs draw are not judged); 0 = off. Changes results: the output is the image at the stop, and `iterations` says how many steps ran.',
    }),
  },
} as const;
export type ModifierId = keyof typeof MODIFIERS;

export interface Paper {
  authors: string;
  year: number;
  title: string;
  url: string;
}

export interface AttackDefinition<Id extends string = string, P extends TProperties = TProperties> {
  id: Id;
  title: string;
  paper: Paper;
  /** One line: the update rule and its defaults. */
  summary: string;
  /** The method's own options; an option without a default is computed by the method (described in its text). */
  options: TObject<P>;
  modifiers: readonly ModifierId[];
  /** Iterations when the caller gives none. */
  defaultIterations: number;
  /** The attack with its options (defaults filled in where the schema has one). */
  create(options: Partial<Static<TObject<P>>>): IterativeAttack;
}

/** Keeps the literal id and option names in the types (the registry derives AttackMethod from them). */
export function defineAttack<Id extends string, P extends TProperties>(def: AttackDefinition<Id, P>): AttackDefinition<Id, P> {
  return def;
}

export type OptionValue = number | boolean | string;

interface OptionSchema {
  type?: string;
  enum?: readonly OptionValue[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  default?: OptionValue;
  description?: string;
}

/** What an option accepts, in words: "an integer in [1, 50]", "a number in (0, 64]", "one of ce, logit". */
export function describeRange(schema: TSchema): string {
  const s = schema as OptionSchema;
  if (s.enum) return `one of ${s.enum.join(', ')}`;
  if (s.type === 'boolean') return 'true or false';
  const kind = s.type === 'integer' ? 'an integer' : 'a number';
  const lo = s.exclusiveMinimum !== undefined ? `(${s.exclusiveMinimum}` : s.minimum !== undefined ? `[${s.minimum}` : '(-inf';
  const hi = s.maximum !== undefined ? `${s.maximum}]` : 'inf)';
  return `${kind} in ${lo}, ${hi}`;
}

/**
 * The one check of an option value against its schema (the HTTP layer's ajv applies the same
 * schema): undefined when it is valid, else why not, e.g. "ti must be one of 0, 3, 5, ...".
 */
export function checkOption(name: string, value: unknown, schema: TSchema): string | undefined {
  const s = schema as OptionSchema;
  const bad = `${name} must be ${describeRange(schema)}`;
  if (s.enum) return s.enum.includes(value as OptionValue) ? undefined : bad;
  if (s.type === 'boolean') return typeof value === 'boolean' ? undefined : bad;
  if (s.type === 'string') return typeof value === 'string' ? undefined : bad;
  if (typeof value !== 'number' || !Number.isFinite(value)) return bad;
  if (s.type === 'integer' && !Number.isInteger(value)) return bad;
  if (s.minimum !== undefined && value < s.minimum) return bad;
  if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) return bad;
  if (s.maximum !== undefined && value > s.maximum) return bad;
  return undefined;
}

/** A text value (CLI flag, eval grammar) as the option's type; NaN or the raw text when it is not one, for checkOption to refuse. */
export function parseOptionText(text: string, schema: TSchema): unknown {
  const s = schema as OptionSchema;
  if (s.type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  if (s.type === 'string') return text;
  return /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(text.trim()) ? Number(text) : NaN;
}

/** The common step-size option; `fallback` says what the method uses when it is not given. */
export const alphaOption = (fallback: string, defaultValue?: number) =>
  Type.Number({
    exclusiveMinimum: 0,
    maximum: 64,
    ...(defaultValue !== undefined ? { default: defaultValue } : {}),
    description: `Step on the 0..255 scale (default ${fallback}).`,
  });

/** Momentum decay, shared by the momentum methods (MI, SI, VMI). */
export const muOption = () => Type.Number({ minimum: 0, maximum: 10, default: 1, description: 'Momentum decay factor.' });
