/**
 * advserve's command line: `serve`, `attack`, `classify`, on the same engine as the HTTP API.
 * Exit codes: 0 success, 1 the attack ran but missed its goal (attack only), 2 usage or
 * input error, 3 internal failure.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from './config';
import { ApiError } from './errors';
import { EngineError } from './engine/errors';
import { createEngine } from './engine/bootstrap';
import { ATTACK_METHODS, TARGET_SELECTIONS, type AttackMethod, type TargetSelection } from './engine/types';
import { DEFAULT_METHOD } from './engine/attacks/registry';
import { registryFlags, registryHelp, registryValues } from './cli-attack-options';
import { progressBar } from './cli-progress';
import { decodeImage } from './images/decode';
import { attackDecodeLimits } from './engine/admission';
import { encodePng } from './images/encode';
import { resolveClass as resolveClassName, type ClassList } from './models/class-names';
import { evalCommand } from './eval/command';
import { keysCommand } from './keys/command';
import { modelsCommand } from './models/pull/command';
import { workerCommand } from './jobs/worker';
import { startServer } from './server';

const USAGE = `usage:
  advserve serve                       start the HTTP service (configuration from environment, see README)
  advserve attack --target <index|label|class id> [options] in.png -o out.png
  advserve attack --untargeted [--target-selection least-likely|max-loss] [--label L] [options] in.png -o out.png
  advserve classify [--models a,b] [--top-k K] in.png
  advserve eval --images DIR [--eps N] [--methods list] [--defenses list] [--attack-models a,b] [--out report.md]
                                       attack a folder with each method, classify under each defense (advserve eval --help)
  advserve keys add <name> --scopes attack[,admin] [--file F] | keys list | keys remove <name>
                                       API keys in ADVSERVE_API_KEYS_FILE (advserve keys --help)
  advserve models list | models pull <id> [--store DIR] [--mirror URL] [--force]
                                       public ImageNet models into ADVSERVE_MODEL_STORE, checksums verified (advserve models --help)
  advserve worker                      run dataset job items from the queue in REDIS_URL (advserve worker --help)

attack options: --method ${ATTACK_METHODS.join('|')} (default ${DEFAULT_METHOD}), --eps N (1..64, default 16),
  --iterations N (default 20), --models a,b (default all), --seed N, --json (print the report as JSON),
  --progress / --no-progress (a progress bar on stderr; default: when stderr is a terminal)
method options (each method takes its own; the others are ignored):
${registryHelp()}
The models to load are ADVSERVE_MODELS (default all three bundled); --models narrows the ensemble.`;

class UsageError extends Error {}

/** A class named by index, label, synonym or class id (src/models/class-names.ts), as a usage error. */
function resolveClass(value: string, classes: ClassList, name: string): number {
  try {
    return resolveClassName(classes, value, name);
  } catch (err) {
    if (err instanceof ApiError) throw new UsageError(`--${name}: ${err.message}`);
    throw err;
  }
}

const quietLog = {
  info: (obj: object, msg: string) => process.stderr.write(`${msg} ${JSON.stringify(obj)}\n`),
  warn: (obj: object, msg: string) => process.stderr.write(`warning: ${msg} ${JSON.stringify(obj)}\n`),
  error: (obj: object, msg: string) => process.stderr.write(`error: ${msg} ${JSON.stringify(obj)}\n`),
};

async function attackCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string' },
      untargeted: { type: 'boolean', default: false },
      'target-selection': { type: 'string', default: 'least-likely' },
      label: { type: 'string' },
      method: { type: 'string', default: DEFAULT_METHOD },
      eps: { type: 'string', default: '16' },
      iterations: { type: 'string', default: '20' },
      models: { type: 'string' },
      seed: { type: 'string' },
      progress: { type: 'boolean' },
      'no-progress': { type: 'boolean' },
      ...registryFlags(),
      output: { type: 'string', short: 'o' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1 || !values.output) throw new UsageError('attack needs one input image and -o out.png');
  if (!values.untargeted && values.target === undefined) throw new UsageError('attack needs --target, or --untargeted');
  if (!ATTACK_METHODS.includes(values.method as AttackMethod)) throw new UsageError(`--method must be one of ${ATTACK_METHODS.join(', ')}`);
  const selection = values['target-selection'] as TargetSelection;
  if (!TARGET_SELECTIONS.includes(selection)) throw new UsageError(`--target-selection must be one of ${TARGET_SELECTIONS.join(', ')}`);
  const eps = Number(values.eps);
  // As the HTTP API: the output is rounded to 8 bits, so a budget below 1 could not change a pixel.
  if (!(eps >= 1 && eps <= 64)) {
    const why = eps < 1 ? ': the output is rounded to 8 bits, so a budget below 1 could not change a pixel' : '';
    throw new UsageError(`--eps must be from 1 to 64 on the 0..255 scale, not "${values.eps}"${why}`);
  }
  const options = registryValues(values, (message) => {
    throw new UsageError(message);
  });
  const config = loadConfig();
  const image = await decodeImage(await readFile(positionals[0]), attackDecodeLimits(config));
  const engine = await createEngine(config, quietLog);
  const models = values.models?.split(',').map((s) => s.trim()).filter(Boolean);
  const classes = engine.classes(models);
  const showProgress = values['no-progress'] ? false : (values.progress ?? process.stderr.isTTY === true);
  const bar = showProgress ? progressBar(process.stderr) : undefined;
  const out = await engine.attack(image, {
    method: values.method as AttackMethod,
    eps,
    iterations: Number(values.iterations),
    models,
    targeted: !values.untargeted,
    target: values.target === undefined ? undefined : resolveClass(values.target, classes, 'target'),
    targetSelection: selection,
    label: values.label === undefined ? undefined : resolveClass(values.label, classes, 'label'),
    seed: values.seed === undefined ? undefined : Number(values.seed),
    ...options,
    ...(bar ? { onProgress: bar.update } : {}),
  });
  bar?.done();
  await writeFile(values.output, await encodePng(out.image));
  const { image: _image, ...report } = out;
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(
      `${out.success ? 'success' : 'failed'}: ${out.targeted ? 'target' : 'away from'} ${out.target.label}, ensemble now ${out.ensemble.after.label} ` +
        `(${(out.ensemble.after.prob * 100).toFixed(1)}%), linf ${out.linf}, ${out.iterations} iterations, ${out.elapsedMs} ms -> ${values.output}\n`,
    );
    for (const m of out.models) process.stdout.write(`  ${m.id}: ${m.before.label} -> ${m.after.label} (target prob ${m.after.targetProb.toFixed(3)})\n`);
  }
  await engine.dispose();
  return out.success ? 0 : 1;
}

async function classifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { models: { type: 'string' }, 'top-k': { type: 'string', default: '5' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('classify needs one input image');
  const config = loadConfig();
  const image = await decodeImage(await readFile(positionals[0]), { maxPixels: config.maxPixels });
  const engine = await createEngine(config, quietLog);
  const models = values.models?.split(',').map((s) => s.trim()).filter(Boolean);
  const out = await engine.classify(image, { models, topK: Number(values['top-k']) });
  if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else {
    const fmt = (top: { label: string; prob: number }[]) => top.map((p) => `${p.label} ${(p.prob * 100).toFixed(1)}%`).join(', ');
    for (const m of out.models) process.stdout.write(`${m.id}: ${fmt(m.top)}\n`);
    process.stdout.write(`ensemble: ${fmt(out.ensemble.top)}\n`);
  }
  await engine.dispose();
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        await startServer();
        return 0;
      case 'attack':
        return await attackCommand(rest);
      case 'classify':
        return await classifyCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'keys':
        return await keysCommand(rest);
      case 'models':
        return await modelsCommand(rest);
      case 'worker':
        return await workerCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`advserve: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      process.stderr.write(`advserve: ${err.title}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof EngineError) {
      process.stderr.write(`advserve: ${err.message}\n`);
      return 2;
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`advserve: ${(err as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`advserve: ${(err as Error).stack ?? String(err)}\n`);
    return 3;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    if (process.argv[2] !== 'serve') process.exit(code);
  });
}
