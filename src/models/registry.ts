/**
 * Loads the model table at start, compiles each network for fast input gradients, checks it
 * against its spec, warms it up (forward and input gradient), and keeps it resident.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadBundledArtifacts } from './bundled';
import { NetClassifier, type LogitsNet } from './classifier';
import { readModelFolder } from './folder-io';
import { compileGraphModel, compileLayersModel } from './net/compile';
import { compileOnnxModel } from './net/onnx-front/compile';
import { classPick, type OutputHead } from './net/program';
import { plainGraphNet, plainLayersNet } from './plain-net';
import { BUNDLED_MODELS } from './table';
import type { Classifier, ModelSpec } from './types';

export { readFolderSpec } from './spec-file';

export interface LoadedModel {
  classifier: Classifier;
  /** Ops the fast compiler could not handle (run by tfjs itself), or 'whole model' when it fell back entirely. */
  fallbacks: string[];
  loadMs: number;
}

export interface LoadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

async function artifactsFor(spec: ModelSpec): Promise<tf.io.ModelArtifacts> {
  return spec.source.kind === 'nsfwjs' ? loadBundledArtifacts(spec.source.name) : readModelFolder(spec.source.path, spec.file);
}

export interface BuiltNet {
  net: LogitsNet;
  fallbacks: string[];
  endsInSoftmax: boolean;
  quantization: 'none' | 'dequantized';
}

/** The steps after the network's own output that the spec asks for (see OutputHead). */
export function headOf(spec: ModelSpec): OutputHead | undefined {
  if (!spec.outputMap && spec.output !== 'probabilities') return undefined;
  return { outputMap: spec.outputMap, log: spec.output === 'probabilities' };
}

/** The head applied to a plain (uncompiled) network, with tfjs ops and the same class pick as compiled programs. */
function plainWithHead(net: LogitsNet & { endsInSoftmax: boolean }, head: OutputHead | undefined): LogitsNet & { endsInSoftmax: boolean } {
  if (!head) return net;
  const picked = head.outputMap && classPick(head.outputMap);
  const pick = picked && tf.keep(picked);
  return {
    ...net,
    forward: (x) =>
      tf.tidy(() => {
        let z: tf.Tensor2D = net.forward(x);
        if (head.log && !net.endsInSoftmax) z = tf.log(tf.maximum(z, 1e-30)) as tf.Tensor2D;
        return pick ? tf.matMul(z, pick) : z;
      }),
    dispose: () => {
      pick?.dispose();
      net.dispose();
    },
    graph: undefined,
  };
}

/** Loads the weights and compiles the network (tfjs models: or wraps the plain model when the compiler cannot). */
export async function buildNet(spec: ModelSpec, log: LoadLog): Promise<BuiltNet> {
  const head = headOf(spec);
  if (spec.format === 'onnx') {
    if (spec.source.kind !== 'folder') throw new Error(`model ${spec.id}: ONNX models come from folders`);
    const file = join(spec.source.path, spec.file ?? 'model.onnx');
    const bytes = await readFile(file);
    try {
      const net = compileOnnxModel(bytes, { file, inputSize: spec.inputSize, layout: spec.layout ?? 'NCHW', head });
      return { net, fallbacks: [], endsInSoftmax: net.endsInSoftmax, quantization: net.dequantized ? 'dequantized' : 'none' };
    } catch (err) {
      throw new Error(`model ${spec.id}: ${(err as Error).message}`, { cause: err });
    }
  }
  const artifacts = await artifactsFor(spec);
  if (spec.format === 'graph') {
    const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
    try {
      const net = compileGraphModel(model, artifacts, head);
      return { net, fallbacks: net.fallbacks, endsInSoftmax: net.endsInSoftmax, quantization: 'none' };
    } catch (err) {
      log.warn({ model: spec.id, err: String(err) }, 'fast compiler cannot handle this graph; using tfjs gradients');
      const net = plainWithHead(plainGraphNet(model, artifacts.modelTopology as object), head);
      return { net, fallbacks: ['whole model'], endsInSoftmax: net.endsInSoftmax, quantization: 'none' };
    }
  }
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    const net = compileLayersModel(model, head);
    return { net, fallbacks: net.fallbacks, endsInSoftmax: net.endsInSoftmax, quantization: 'none' };
  } catch (err) {
    log.warn({ model: spec.id, err: String(err) }, 'fast compiler cannot handle this model; using tfjs gradients');
    const net = plainWithHead(plainLayersNet(model), head);
    return { net, fallbacks: ['whole model'], endsInSoftmax: net.endsInSoftmax, quantization: 'none' };
  }
}

/** Forward + input gradient once on a blank image: checks the output width and compiles kernels. */
function warmUp(classifier: NetClassifier): void {
  const [h, w] = classifier.spec.inputSize;
  const classes = classifier.spec.labels.length;
  tf.tidy(() => {
    const x = tf.fill([1, h, w, 3], 128) as tf.Tensor4D;
    const logits = classifier.logits(x);
    if (logits.shape.length !== 2 || logits.shape[1] !== classes) {
      throw new Error(`model ${classifier.spec.id} outputs shape [${logits.shape}] but has ${classes} labels`);
    }
    const grad = tf.grad((img) => classifier.logits(img as tf.Tensor4D).sum())(x);
    const bad = grad.isNaN().any().dataSync()[0];
    if (bad) throw new Error(`model ${classifier.spec.id}: input gradient has NaN at warm-up`);
  });
}

export async function loadModel(spec: ModelSpec, log: LoadLog): Promise<LoadedModel> {
  const started = Date.now();
  return classifierOf(spec, await buildNet(spec, log), started);
}

/** Wraps a built network as a classifier and warms it up (frees the network when that fails). */
export function classifierOf(spec: ModelSpec, { net, fallbacks, endsInSoftmax, quantization }: BuiltNet, started = Date.now()): LoadedModel {
  const classifier = new NetClassifier({ ...spec, endsInSoftmax, quantization }, net);
  try {
    warmUp(classifier);
  } catch (err) {
    classifier.dispose();
    throw err;
  }
  return { classifier, fallbacks, loadMs: Date.now() - started };
}

export function bundledSpecs(ids: string[]): ModelSpec[] {
  return ids.map((id) => {
    const spec = BUNDLED_MODELS.find((m) => m.id === id);
    if (!spec) throw new Error(`unknown bundled model "${id}" (known: ${BUNDLED_MODELS.map((m) => m.id).join(', ')})`);
    return spec;
  });
}
