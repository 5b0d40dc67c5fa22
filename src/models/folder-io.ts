/**
 * Reads and writes tfjs models in a local folder (model.json + weight files), the format
 * `tfjs.converters` and `model.save('file://...')` produce. The browser build of tfjs that we
 * use has no file:// handler, and tfjs-node is optional, so we carry our own.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';

export interface ModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  weightsManifest: tf.io.WeightsManifestConfig;
  trainingConfig?: tf.io.TrainingConfig;
  // The same type as tf.io.ModelArtifacts' field, which it is passed to.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  userDefinedMetadata?: { [key: string]: {} };
}

/**
 * model.json plus its weight files (read by `readWeights`, in manifest order) as one
 * ModelArtifacts; shared by the folder loader and the nsfwjs bundle loader.
 */
export async function artifactsFrom(json: ModelJson, readWeights: (path: string) => Promise<Buffer>): Promise<tf.io.ModelArtifacts> {
  const parts: Buffer[] = [];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const path of group.paths) parts.push(await readWeights(path));
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(parts);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    trainingConfig: json.trainingConfig,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
  };
}

export async function readModelFolder(dir: string, file = 'model.json'): Promise<tf.io.ModelArtifacts> {
  const json = JSON.parse(await readFile(join(dir, file), 'utf8')) as ModelJson;
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${join(dir, file)} is not a tfjs model (no modelTopology or weightsManifest)`);
  }
  return artifactsFrom(json, (path) => readFile(insideFolder(dir, path, file)));
}

/** A weight file named by model.json: it must lie inside the model's folder. */
function insideFolder(dir: string, path: string, file: string): string {
  const full = resolve(dir, path);
  const rel = relative(resolve(dir), full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${join(dir, file)}: weight file "${path}" is outside the model folder`);
  return full;
}

/** A save handler: `await model.save(folderSaveHandler(dir))`. */
export function folderSaveHandler(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(dir, { recursive: true });
    const weightsFile = 'weights.bin';
    const data = artifacts.weightData;
    const bytes = data === undefined ? new Uint8Array(0) : new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
    await writeFile(join(dir, weightsFile), bytes);
    const json: ModelJson = {
      modelTopology: artifacts.modelTopology as object,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? undefined,
      weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
    };
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  });
}
