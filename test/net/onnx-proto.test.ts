/**
 * The ONNX writer (src/models/onnx/proto.ts) read back by the ONNX reader (src/models/onnx/read.ts):
 * every attribute kind the exporter writes, float and int64 initializers (views into larger
 * buffers, as the exporter's weights may be), and typed inputs with a symbolic batch.
 */
import t from 'tap';
import { encodeModel, type OnnxModel } from '../../src/models/onnx/proto';
import { readOnnx } from '../../src/models/onnx/read';

t.test('an encoded model reads back with its nodes, attributes, initializers and inputs', async (t) => {
  const backing = new Float32Array([9, 1.5, -2.25, 3e-8, 9]);
  const model: OnnxModel = {
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { group: 1, keepdims: 0, pads: [0, 1, 2, 3], mode: 'constant', alpha: { float: 0.2 }, scales: { floats: [0.5, -4] } } },
      { op: 'Reshape', inputs: ['y', 'shape'], outputs: ['z'] },
    ],
    initializers: [
      { name: 'w', dims: [1, 3], data: backing.subarray(1, 4) },
      { name: 'shape', dims: [2], data: BigInt64Array.from([-1n, 12n]) },
    ],
    inputs: [{ name: 'x', dims: [null, 4, 3] }],
    outputs: [{ name: 'z', dims: [null, 12] }],
    opset: 17,
  };
  const back = readOnnx(encodeModel(model), 'test.onnx');
  t.equal(back.opset, 17);
  t.equal(back.producer, 'advserve');
  t.same(
    back.nodes.map((n) => ({ op: n.op, inputs: n.inputs, outputs: n.outputs, attrs: Object.fromEntries(n.attrs) })),
    [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { group: 1, keepdims: 0, pads: [0, 1, 2, 3], mode: 'constant', alpha: Math.fround(0.2), scales: [0.5, -4] } },
      { op: 'Reshape', inputs: ['y', 'shape'], outputs: ['z'], attrs: {} },
    ],
  );
  t.same([...back.initializers.get('w')!.data], [1.5, -2.25, Math.fround(3e-8)], 'the view, not its backing buffer');
  t.same(back.initializers.get('w')!.dims, [1, 3]);
  t.same([...back.initializers.get('shape')!.data], [-1, 12]);
  t.same(back.inputs, [{ name: 'x', dims: [null, 4, 3] }]);
  t.same(back.outputs, ['z']);
});

t.test('a non-integer where an integer attribute belongs is refused', async (t) => {
  const model: OnnxModel = { nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], attrs: { axis: 0.5 } }], initializers: [], inputs: [], outputs: [], opset: 17 };
  t.throws(() => encodeModel(model), /onnx attribute axis: 0.5 is not an integer/);
});
