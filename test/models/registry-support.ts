/** Tiny models written in memory for the model registry tests, and an app on a real engine with a store. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import { buildApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import { folderSaveHandler } from '../../src/models/folder-io';
import { OnnxBuilder } from '../support/onnx-builder';
import { fill, rng } from '../support/random';

export const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A 4x4 NCHW linear classifier (Flatten -> Gemm) with `classes` outputs; `op` puts one more operator in between. */
export function tinyOnnx(seed: number, classes = 3, op?: string): Buffer {
  const r = rng(seed);
  const b = new OnnxBuilder();
  let v = b.one('Flatten', ['input'], { axis: 1 });
  if (op) v = b.one(op, [v]);
  v = b.one('Gemm', [v, b.floats([classes, 48], fill(classes * 48, r, 0.5)), b.floats([classes], fill(classes, r))], { transB: 1 });
  return Buffer.from(b.encode({ name: 'input', dims: [null, 3, 4, 4] }, v));
}

export const onnxSpec = (id: string, labels = ['cat', 'dog', 'fox']) => JSON.stringify({ id, labels, inputSize: [4, 4], inputRange: [0, 1] });

/** A tiny tfjs LayersModel's files (model.json, weights.bin), as `model.save` writes them. */
export async function tinyLayersFiles(): Promise<{ modelJson: Buffer; weights: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-layers-'));
  try {
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [4, 4, 3] }),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      ],
    });
    await model.save(folderSaveHandler(dir));
    model.dispose();
    return { modelJson: readFileSync(join(dir, 'model.json')), weights: readFileSync(join(dir, 'weights.bin')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A temporary folder removed after the test. */
export function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The serving model that is not in the store (ADVSERVE_MODEL_DIRS): `base_net`. */
export function baseModelDir(t: Test): string {
  const dir = tempDir(t, 'advserve-base-');
  writeFileSync(join(dir, 'model.onnx'), tinyOnnx(1));
  writeFileSync(join(dir, 'advserve.json'), onnxSpec('base_net'));
  return dir;
}

/** A real engine (tiny models, in-process unless `workers`) and the app on it, with `store` as ADVSERVE_MODEL_STORE. */
export async function startApp(t: Test, store: string | undefined, over: Partial<Config> = {}, baseDir = baseModelDir(t)) {
  const config: Config = {
    ...loadConfig({ ADVSERVE_BACKEND: 'wasm' }),
    bundledModels: [],
    modelDirs: [baseDir],
    workers: 0,
    wasmThreads: 1,
    runtime: 'tfjs',
    ...(store ? { modelStore: store } : {}),
    ...over,
  };
  const engine = await createEngine(config, quiet);
  const app = await buildApp({ engine, config, logger: false });
  t.teardown(async () => {
    await app.close();
    await engine.dispose();
  });
  return { app, engine, config, server: app.server };
}
