/**
 * Makes advserve model folders for the ImageNet classifiers in ../shared (models/ and onnx/):
 * one folder per model with links to the shared files and an advserve.json written from their
 * catalogs (input transform, layout, background, class ids). The shared files stay where they
 * are (never copied into the project). Used by tests, benchmarks and docs/RESULTS.md.
 *
 *   npx tsx scripts/shared-models.ts --out /tmp/imagenet [--shared ../shared]
 *   ADVSERVE_MODELS= ADVSERVE_MODEL_DIRS=/tmp/imagenet/mobilenet_v2_torch_float,... npm start
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { advserveJsonFor, type CatalogNetwork } from '../src/models/pull/advserve-json';

export const SHARED = resolve(__dirname, '../../shared');

function link(from: string, dir: string): void {
  for (const f of readdirSync(from)) {
    if (f === 'ref' || f.endsWith('.pt') || f === 'spec.json' || f === 'verification.json') continue;
    const to = join(dir, f);
    if (!existsSync(to)) symlinkSync(join(from, f), to);
  }
}

/** Creates the folders under `out`; returns their paths by id. Only trained models with labels (the random-weight exports have none). */
export function makeSharedModelFolders(out: string, shared = SHARED): Map<string, string> {
  const made = new Map<string, string>();
  const catalog = JSON.parse(readFileSync(join(shared, 'models/catalog.json'), 'utf8')) as { models: CatalogNetwork[] };
  const write = (id: string, src: string, desc: object) => {
    const dir = join(out, id);
    mkdirSync(dir, { recursive: true });
    link(src, dir);
    writeFileSync(join(dir, 'advserve.json'), JSON.stringify(desc, null, 1));
    made.set(id, dir);
  };
  for (const m of catalog.models) write(m.id, join(shared, 'models', m.id), advserveJsonFor(m));
  const torch = join(shared, 'onnx/mobilenet_v2_torch_float');
  if (existsSync(join(torch, 'labels.json'))) {
    write('mobilenet_v2_torch_float', torch, {
      id: 'mobilenet_v2_torch_float',
      file: 'model.onnx',
      labels: 'labels.json',
      classIds: 'wnids.json',
      inputSize: [224, 224],
      layout: 'NCHW',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      resize: 'center-crop',
    });
  }
  return made;
}

if (require.main === module) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, shared: { type: 'string' } } });
  if (!values.out) {
    console.error('usage: npx tsx scripts/shared-models.ts --out DIR [--shared ../shared]');
    process.exit(2);
  }
  const made = makeSharedModelFolders(resolve(values.out), values.shared ? resolve(values.shared) : SHARED);
  for (const [id, dir] of made) console.log(`${id}\t${dir}`);
}
