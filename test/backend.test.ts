/**
 * A second engine in one process (tests, the CLI) asks for the wasm backend again: the running
 * one must be kept, threads or not, or every tensor made so far loses its memory.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { initBackend, wasmThreadCount } from '../src/backend';

t.test('asking for a threaded wasm backend keeps an already running wasm backend and its tensors', async (t) => {
  t.equal(await initBackend('wasm'), 'wasm');
  const x = tf.tensor1d([1, 2, 3]);
  t.equal(await initBackend('wasm', { wasmThreads: 2 }), 'wasm');
  t.same(Array.from(x.dataSync()), [1, 2, 3], 'the tensor made before is intact');
  t.same(Array.from(tf.add(x, 1).dataSync()), [2, 3, 4], 'and still computes');
  t.equal(wasmThreadCount(), 1, 'the running single-threaded build was kept');
  x.dispose();
});
