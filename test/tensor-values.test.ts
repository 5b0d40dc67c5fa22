/**
 * src/backend/tensor-values.ts on the wasm and cpu backends: the view reads a tensor's values
 * (on wasm, in place in the heap), and tensorOfCopy's tensor keeps its values when the caller
 * overwrites the array it came from (a reused step buffer).
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { float32Values, tensorOfCopy } from '../src/backend/tensor-values';
import { seededNormal, useBackend } from './support/tiny';

for (const backend of ['wasm', 'cpu']) {
  t.test(`${backend}: float32Values and tensorOfCopy`, async (t) => {
    await useBackend(backend);
    const values = seededNormal(2 * 5 * 7 * 3, 11);
    const a = tf.tensor4d(values, [2, 5, 7, 3]);
    const b = tf.mul(a, 3); // an op's output, not an uploaded array
    t.same([...float32Values(b)], [...b.dataSync()], "an op's output: its values");
    if (backend === 'wasm') t.not(float32Values(b).buffer, b.dataSync().buffer, 'read in place, not a copy');

    const reused = values.slice();
    const copy = tensorOfCopy(reused, [2, 5, 7, 3]);
    reused.fill(-1);
    t.same([...copy.dataSync()], [...values], 'the tensor keeps its values when the array is overwritten');
    t.throws(() => float32Values(tf.tensor1d([1, 2], 'int32')), TypeError, 'float32 only');
    tf.dispose([a, b, copy]);
  });
}
t.teardown(() => useBackend('wasm'));
