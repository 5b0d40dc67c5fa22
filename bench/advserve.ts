/**
 * The advserve side of the bench: models loaded exactly as the service loads them
 * (initBackend, loadModel on the bundled specs, which compiles and warms them up), then
 *  - one attack step per image: forward + input gradient of the target's cross-entropy
 *    (objective.ts's directionOracle, the attack loop's own oracle) + a signed step clipped
 *    to the eps-box, on [N, 384, 512, 3] user-size images (the resize to the model's size is
 *    inside the gradient, as in the service);
 *  - one complete mng-l1 targeted attack through Engine.attack.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { Engine } from '../src/engine/engine';
import { directionOracle, type Objective } from '../src/engine/objective';
import { imageToTensor } from '../src/engine/pixels';
import type { RgbImage } from '../src/images/types';
import { bundledSpecs, loadModel, type LoadedModel } from '../src/models/registry';
import { median, timeRepeated, type RepeatPolicy } from './timing';

export interface LoadInfo {
  id: string;
  loadMs: number;
  fallbacks: string[];
}

export interface StepResult {
  batch: number;
  msPerStep: number;
  imageStepsPerS: number;
  reps: number;
  msAll: number[];
}

export interface AttackResult {
  msMedian: number;
  msAll: number[];
  engineElapsedMs: number[];
  target: string;
  success: boolean[];
  linf: number;
  l2: number;
}

export interface BackendInfo {
  backend: string;
  tfjs: string;
  wasmSimd: boolean | null;
  wasmThreads: boolean | null;
}

const quietLog = (warnings: string[]) => ({
  info: () => undefined,
  warn: (obj: object, msg: string) => warnings.push(`${msg} ${JSON.stringify(obj)}`),
});

export async function startBackend(): Promise<BackendInfo> {
  const backend = await initBackend('wasm');
  const flag = (name: string): boolean | null => {
    try {
      return tf.env().getBool(name);
    } catch {
      return null;
    }
  };
  return { backend, tfjs: tf.version.tfjs, wasmSimd: flag('WASM_HAS_SIMD_SUPPORT'), wasmThreads: flag('WASM_HAS_MULTITHREAD_SUPPORT') };
}

export async function loadBundled(ids: string[], warnings: string[]): Promise<{ models: LoadedModel[]; info: LoadInfo[] }> {
  const models: LoadedModel[] = [];
  const info: LoadInfo[] = [];
  for (const spec of bundledSpecs(ids)) {
    const loaded = await loadModel(spec, quietLog(warnings));
    models.push(loaded);
    info.push({ id: spec.id, loadMs: loaded.loadMs, fallbacks: loaded.fallbacks });
  }
  return { models, info };
}

function batchTensor(images: RgbImage[], n: number): tf.Tensor4D {
  return tf.tidy(() => tf.concat(images.slice(0, n).map((img) => imageToTensor(img)), 0) as tf.Tensor4D);
}

/**
 * Median time of one attack step (all `models` at once, as the ensemble attack takes them)
 * on a batch of n images. Each rep steps from the previous rep's image, like an attack.
 */
export function timeStep(models: LoadedModel[], images: RgbImage[], n: number, policy: RepeatPolicy, target: number): StepResult {
  const eps = 16;
  const alpha = 1;
  const objective: Objective = { cls: target, towards: true };
  const oracle = directionOracle(
    models.map((m) => m.classifier),
    objective,
  );
  const clean = batchTensor(images, n);
  const lower = tf.tidy(() => tf.maximum(tf.sub(clean, eps), 0) as tf.Tensor4D);
  const upper = tf.tidy(() => tf.minimum(tf.add(clean, eps), 255) as tf.Tensor4D);
  let x = clean.clone();
  const step = () => {
    const directions = oracle(x, 0);
    const next = tf.tidy(() => {
      const d = directions.length === 1 ? directions[0] : tf.div(tf.addN(directions), directions.length);
      return tf.minimum(tf.maximum(tf.add(x, tf.mul(tf.sign(d), alpha)), lower), upper) as tf.Tensor4D;
    });
    for (const d of directions) d.dispose();
    // wasm runs kernels synchronously; reading one value makes that explicit for any backend.
    tf.tidy(() => next.slice([0, 0, 0, 0], [1, 1, 1, 1]).dataSync());
    x.dispose();
    x = next;
  };
  try {
    const msAll = timeRepeated(step, policy);
    const msPerStep = median(msAll);
    return { batch: n, msPerStep, imageStepsPerS: (n * 1000) / msPerStep, reps: msAll.length, msAll };
  } finally {
    x.dispose();
    clean.dispose();
    lower.dispose();
    upper.dispose();
  }
}

/** Complete mng-l1 targeted attacks (20 iterations, eps 16) through Engine.attack. */
export async function timeAttack(models: LoadedModel[], image: RgbImage, reps: number): Promise<AttackResult> {
  const engine = new Engine('wasm');
  for (const m of models) engine.add(m);
  engine.markReady();
  // Aim at the class the clean image is least likely to be: a real targeted attack, not a no-op.
  const clean = await engine.classify(image, { topK: 5 });
  const least = clean.ensemble.top[clean.ensemble.top.length - 1];
  const msAll: number[] = [];
  const engineElapsedMs: number[] = [];
  const success: boolean[] = [];
  let linf = 0;
  let l2 = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const out = await engine.attack(image, { method: 'mng-l1', eps: 16, iterations: 20, targeted: true, target: least.index, seed: 0 });
    msAll.push(performance.now() - t0);
    engineElapsedMs.push(out.elapsedMs);
    success.push(out.success);
    linf = out.linf;
    l2 = out.l2;
  }
  return { msMedian: median(msAll), msAll, engineElapsedMs, target: least.label, success, linf, l2 };
}
