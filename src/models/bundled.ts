/**
 * Reads the three classifiers that the npm package nsfwjs ships inside its own files
 * (model topology and base64 weight shards as JS modules), into tfjs ModelArtifacts.
 * Nothing is fetched: we only read files from node_modules.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { artifactsFrom, type ModelJson } from './folder-io';

export type BundledName = 'InceptionV3' | 'MobileNetV2' | 'MobileNetV2Mid';

interface NsfwjsModelDefinition {
  name: string;
  numOfWeightBundles: number;
  modelJson: () => Promise<{ default: ModelJson }>;
  weightBundles: Array<() => Promise<{ default: string }>>;
}


const SUBPATH: Record<BundledName, string> = {
  InceptionV3: 'inception_v3',
  MobileNetV2: 'mobilenet_v2',
  MobileNetV2Mid: 'mobilenet_v2_mid',
};

/** The base64 payload of a browserify-wrapped shard: the string assigned to module.exports. */
function extractBase64Literal(text: string): string | undefined {
  const marker = '.exports="';
  const start = text.indexOf(marker);
  if (start < 0) return undefined;
  const end = text.indexOf('"', start + marker.length);
  if (end < 0) return undefined;
  const literal = text.slice(start + marker.length, end);
  // A regex over the whole 5 MB literal overflows V8's stack; a prefix check is enough
  // here because tfjs rejects weight data whose size does not match the manifest.
  return literal.length > 1000 && /^[A-Za-z0-9+/]{64}/.test(literal) ? literal : undefined;
}

/**
 * require() of a 5.5 MB shard module takes V8 ~8 s (it parses the whole literal as code);
 * pulling the literal out of the file text takes milliseconds. The package's own loader
 * (require) stays as the fallback should a future nsfwjs change the wrapper.
 */
async function readShard(name: BundledName, def: NsfwjsModelDefinition, index: number, shardName: string): Promise<Buffer> {
  const dir = join(dirname(require.resolve(`nsfwjs/models/${SUBPATH[name]}`)), '..', '..', 'models', SUBPATH[name]);
  try {
    const text = await readFile(join(dir, `${shardName}.min.js`), 'latin1');
    const literal = extractBase64Literal(text);
    if (literal) return Buffer.from(literal, 'base64');
  } catch {
    // fall through to the package's loader
  }
  return Buffer.from((await def.weightBundles[index]()).default, 'base64');
}

function definition(name: BundledName): NsfwjsModelDefinition {
  // The subpath exports are the package's public way to reach each model's files.
  switch (name) {
    case 'InceptionV3':
      return require('nsfwjs/models/inception_v3').InceptionV3Model;
    case 'MobileNetV2':
      return require('nsfwjs/models/mobilenet_v2').MobileNetV2Model;
    case 'MobileNetV2Mid':
      return require('nsfwjs/models/mobilenet_v2_mid').MobileNetV2MidModel;
  }
}

export async function loadBundledArtifacts(name: BundledName): Promise<tf.io.ModelArtifacts> {
  const def = definition(name);
  const json = (await def.modelJson()).default;
  const shards = new Map<string, Buffer>();
  for (let i = 0; i < def.numOfWeightBundles; i++) {
    const shardName = `group1-shard${i + 1}of${def.numOfWeightBundles}`;
    shards.set(shardName, await readShard(name, def, i, shardName));
  }
  return artifactsFrom(json, async (path) => {
    const data = shards.get(path);
    if (!data) throw new Error(`nsfwjs model ${name}: weight shard ${path} is missing from the package`);
    return data;
  });
}
