/**
 * Logits from an uncompiled tfjs model, used only when the fast compiler (./net) cannot
 * handle a model. Gradients then go through tfjs' own kernels, which are slow on wasm and
 * may be missing there (Conv2DBackpropFilter): such a model may only work on cpu/tensorflow.
 */
import * as tf from '@tensorflow/tfjs';
import type { LogitsNet } from './classifier';

interface GraphNode { name: string; op: string; input?: string[] }

export function plainLayersNet(model: tf.LayersModel): LogitsNet & { endsInSoftmax: boolean } {
  const last = model.layers[model.layers.length - 1];
  const config = last.getConfig() as { activation?: string };
  if (last.getClassName() === 'Dense' && config.activation === 'softmax') {
    // Pre-softmax logits: the penultimate features times the last Dense's kernel, plus bias.
    const features = tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
    const [kernel, bias] = last.getWeights();
    return {
      endsInSoftmax: true,
      forward: (x) =>
        tf.tidy(() => {
          const f = features.predict(x) as tf.Tensor2D;
          return (bias ? tf.add(tf.matMul(f, kernel), bias) : tf.matMul(f, kernel)) as tf.Tensor2D;
        }),
      dispose: () => model.dispose(),
    };
  }
  return {
    endsInSoftmax: false,
    forward: (x) => model.predict(x) as tf.Tensor2D,
    dispose: () => model.dispose(),
  };
}

export function plainGraphNet(model: tf.GraphModel, topology: { node?: GraphNode[] }): LogitsNet & { endsInSoftmax: boolean } {
  const softmax = (topology.node ?? []).find((n) => n.op === 'Softmax');
  const logitsNode = softmax?.input?.[0];
  return {
    endsInSoftmax: logitsNode !== undefined,
    forward: (x) => (logitsNode ? model.execute(x, logitsNode) : model.execute(x)) as tf.Tensor2D,
    dispose: () => model.dispose(),
  };
}
