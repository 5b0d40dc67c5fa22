/**
 * `advserve eval`: attack every image of a folder with every method and classify the results
 * under every defense; print the seed's results table (markdown), CSV or JSON.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config';
import { parseDefenseList } from '../defense/parse';
import { createEngine } from '../engine/bootstrap';
import type { AttackEngine } from '../engine/types';
import { decodeImage } from '../images/decode';
import { DEFAULT_METHODS, EvalUsageError, grammarHelp, parseMethodList } from './methods';
import { ATTACK_METHODS } from '../engine/attacks/registry';
import { progressReporter, type ProgressStream } from './progress';
import { REPORT_FORMATS, formatFromPath, formatReport, type ReportFormat } from './report';
import { runEval, type EvalInput } from './run';

export const EVAL_USAGE = `usage: advserve eval --images DIR [options]
  --images DIR          png/jpg/jpeg/webp files to attack (clean label: prediction of all loaded models)
  --eps N               L-infinity budget, 0..255 scale (default 16)
  --iterations N        attack iterations (default 20)
  --attack-models a,b   models the attacks use (default: all loaded)
  --methods list        comma-separated, a method with modifiers: fgsm, ifgsm, mi-fgsm+di+ti, ifgsm+ti15,
                        mng-l1, none (the clean images) ... (default ${DEFAULT_METHODS});
                        methods ${ATTACK_METHODS.join(', ')}; modifiers and options (a method takes its own):
                        ${grammarHelp()}
  --defenses list       comma-separated [transform[param]+]...model, transforms jpeg75, bits3, median3,
                        resize-pad, blur1.5 (default: every loaded model, then jpeg75, bits3, median3,
                        resize-pad each in front of mobilenet_v2_mid)
  --targeted            (default) a target per image drawn among the other classes (seeded)
  --untargeted          move away from the clean label
  --seed N              targets, resize-pad draws and randomised attacks (default 0)
  --concurrency N       images attacked at once, sharing gradient batches (default 4; results do not depend on it)
  --out FILE            write the report there (default: stdout)
  --format F            markdown|csv|json (default: from the --out extension, else markdown)`;

const IMAGE_FILE = /\.(png|jpe?g|webp)$/i;

export function defaultDefenses(modelIds: string[]): string {
  const behind = modelIds.includes('mobilenet_v2_mid') ? 'mobilenet_v2_mid' : modelIds[modelIds.length - 1];
  return [...modelIds, ...['jpeg75', 'bits3', 'median3', 'resize-pad'].map((t) => `${t}+${behind}`)].join(',');
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function number(raw: string, name: string, check: (v: number) => boolean, what: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v)) throw new EvalUsageError(`--${name} must be ${what}, got "${raw}"`);
  return v;
}

export interface EvalDeps {
  /** Builds the engine (default: the configured models, as `advserve serve` loads them). */
  engine?: (config: Config) => Promise<AttackEngine>;
  stdout?: ProgressStream;
  stderr?: ProgressStream;
  now?: () => Date;
}

export async function evalCommand(argv: string[], deps: EvalDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        images: { type: 'string' },
        eps: { type: 'string', default: '16' },
        iterations: { type: 'string', default: '20' },
        'attack-models': { type: 'string' },
        methods: { type: 'string', default: DEFAULT_METHODS },
        defenses: { type: 'string' },
        targeted: { type: 'boolean' },
        untargeted: { type: 'boolean' },
        seed: { type: 'string', default: '0' },
        concurrency: { type: 'string', default: '4' },
        out: { type: 'string', short: 'o' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    stderr.write(`advserve eval: ${(err as Error).message}\n\n${EVAL_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }

  let engine: AttackEngine | undefined;
  try {
    if (!values.images) throw new EvalUsageError('--images DIR is required');
    if (values.targeted && values.untargeted) throw new EvalUsageError('--targeted and --untargeted exclude each other');
    const eps = number(values.eps, 'eps', (v) => v > 0 && v <= 64, 'in (0, 64]');
    const iterations = number(values.iterations, 'iterations', (v) => Number.isInteger(v) && v >= 1 && v <= 1000, 'an integer in [1, 1000]');
    const seed = number(values.seed, 'seed', (v) => Number.isInteger(v) && v >= 0 && v <= 4294967295, 'an integer in [0, 4294967295]');
    const concurrency = number(values.concurrency, 'concurrency', (v) => Number.isInteger(v) && v >= 1 && v <= 64, 'an integer in [1, 64]');
    const format = (values.format ?? formatFromPath(values.out)) as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) throw new EvalUsageError(`--format must be one of ${REPORT_FORMATS.join(', ')}`);
    const methods = parseMethodList(values.methods);
    const dir = values.images;
    const files = (await readdir(dir)).filter((f) => IMAGE_FILE.test(f)).sort();
    if (files.length === 0) throw new EvalUsageError(`no png/jpg/jpeg/webp files in ${dir}`);

    // Many images at once: one single-threaded worker per core gets through them soonest.
    const config = loadConfig(process.env, 'throughput');
    engine = await (deps.engine ?? ((c) => createEngine(c, loadLog(stderr))))(config);
    const ids = engine.listModels().map((m) => m.id);
    const defenses = parseDefenseList(values.defenses ?? defaultDefenses(ids), ids, 'defenses');
    const attackModels = values['attack-models']?.split(',').map((s) => s.trim()).filter(Boolean);
    if (attackModels && attackModels.length === 0) throw new EvalUsageError('--attack-models needs at least one model id');
    const inputs: EvalInput[] = files.map((name) => ({ name, load: async () => decodeImage(await readFile(join(dir, name)), { maxPixels: config.maxPixels }) }));

    stderr.write(`eval: ${files.length} images x ${methods.length} methods, ${defenses.length} defenses\n`);
    const progress = progressReporter(stderr);
    const report = await runEval(
      engine,
      inputs,
      { eps, iterations, attackModels, methods, defenses, targeted: !values.untargeted, seed, concurrency },
      { onProgress: (p) => progress.update(p), command: ['advserve', 'eval', ...argv].map(shellQuote).join(' '), imagesDir: dir, now: deps.now },
    );
    const text = formatReport(report, format);
    if (values.out) {
      await writeFile(values.out, text);
      stderr.write(`eval: wrote ${values.out}\n`);
    } else stdout.write(text);
    return 0;
  } catch (err) {
    if (err instanceof EvalUsageError) {
      stderr.write(`advserve eval: ${err.message}\n\n${EVAL_USAGE}\n`);
      return 2;
    }
    throw err;
  } finally {
    // Engine.dispose() stops worker threads (it may be async); a CLI run must not leave them running.
    await (engine as { dispose?: () => unknown } | undefined)?.dispose?.();
  }
}

function loadLog(stderr: ProgressStream) {
  return {
    info: (obj: object, msg: string) => stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
    warn: (obj: object, msg: string) => stderr.write(`warning: ${msg} ${JSON.stringify(obj)}\n`),
    error: (obj: object, msg: string) => stderr.write(`error: ${msg} ${JSON.stringify(obj)}\n`),
  };
}
