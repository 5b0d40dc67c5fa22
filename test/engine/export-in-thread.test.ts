/**
 * Models built and exported in a one-shot thread (src/engine/pool/export-in-thread.ts), as the
 * gradient workers load theirs: the graphs must be byte for byte the ones an export on this
 * thread makes (same tfjs backend), and each model's promise settles on its own: a model whose
 * files do not build fails as a build error without stopping the next. No promise settles before
 * the thread has ended, so no session opens while its tfjs heap is still held.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { initBackend } from '../../src/backend';
import { exportInThread } from '../../src/engine/pool/export-in-thread';
import { exportModel, ModelBuildError } from '../../src/models/onnx/export-model';
import { readFolderSpec } from '../../src/models/registry';
import { onnxSpec, quiet, tempDir, tinyOnnx } from '../models/registry-support';

async function folder(dir: string, id: string, onnx: Buffer) {
  const d = join(dir, id);
  mkdirSync(d);
  writeFileSync(join(d, 'model.onnx'), onnx);
  writeFileSync(join(d, 'advserve.json'), onnxSpec(id));
  return readFolderSpec(d);
}

t.before(async () => {
  await initBackend('wasm', { wasmThreads: 1 });
});

t.test('a thread exports several models, each the same bytes as an export on this thread', async (t) => {
  const dir = tempDir(t, 'advserve-export-');
  const specs = [await folder(dir, 'one', tinyOnnx(11)), await folder(dir, 'two', tinyOnnx(12))];
  const fromThread = await Promise.all(exportInThread(specs, 'wasm'));
  for (const [i, spec] of specs.entries()) {
    const here = await exportModel(spec, quiet);
    t.equal(fromThread[i].classes, here.classes, `${spec.id}: classes`);
    t.ok(Buffer.from(fromThread[i].bytes).equals(Buffer.from(here.bytes)), `${spec.id}: the same ${here.bytes.length} bytes`);
  }
  t.not(Buffer.from(fromThread[0].bytes).equals(Buffer.from(fromThread[1].bytes)), true, 'two models, two graphs');
});

t.test("with forwardMaxBytes, a model whose forward weights fit also comes with its forward-only graph, byte for byte this thread's", async (t) => {
  const dir = tempDir(t, 'advserve-export-');
  const [spec] = [await folder(dir, 'small', tinyOnnx(17))];
  const here = await exportModel(spec, quiet, { forwardMaxBytes: 1 << 30 });
  t.ok(here.forward && here.forward.bytes.length > 0 && here.forward.bytes.length < here.bytes.length, `a forward graph of ${here.forward?.bytes.length} bytes, smaller than the gradient graph's ${here.bytes.length}`);
  const [fromThread] = await Promise.all(exportInThread([spec], 'wasm', { forwardMaxBytes: 1 << 30 }));
  t.ok(fromThread.forward && Buffer.from(fromThread.forward.bytes).equals(Buffer.from(here.forward!.bytes)), 'the thread posts the same forward graph');
  t.ok(Buffer.from(fromThread.bytes).equals(Buffer.from(here.bytes)), 'and the same gradient graph');
  t.equal((await exportModel(spec, quiet, { forwardMaxBytes: 16 })).forward, undefined, 'none where its weights exceed the cap');
  t.equal((await exportModel(spec, quiet)).forward, undefined, 'none by default');
});

t.test('files that do not build are a build error; the other models of the thread still export', async (t) => {
  const dir = tempDir(t, 'advserve-export-');
  const broken = await folder(dir, 'broken', Buffer.from('not an onnx file'));
  const fine = await folder(dir, 'fine', tinyOnnx(13));
  const [a, b] = exportInThread([broken, fine], 'wasm');
  const err = await a.then(
    () => undefined,
    (e: Error) => e,
  );
  t.ok(err instanceof ModelBuildError, `a build error: ${err?.message}`);
  t.ok((await b).bytes.length > 0, 'the next model exports');
});

t.test('no model settles before the thread has ended: its heap is freed before any session opens', async (t) => {
  const thread = new EventEmitter();
  const { exportInThread: exportWith } = t.mockRequire<typeof import('../../src/engine/pool/export-in-thread')>('../../src/engine/pool/export-in-thread', {
    '../../src/engine/pool/spawn': { spawnWorker: () => thread },
  });
  const dir = tempDir(t, 'advserve-export-');
  const specs = [await folder(dir, 'first', tinyOnnx(14)), await folder(dir, 'second', tinyOnnx(15)), await folder(dir, 'never', tinyOnnx(16))];
  const settled: string[] = [];
  const promises = exportWith(specs, 'wasm').map((p, i) =>
    p.then(
      (m) => settled.push(`${specs[i].id}: ${m.classes} classes`),
      (e: Error) => settled.push(`${specs[i].id}: ${e.message}`),
    ),
  );
  const graph = { ok: true, bytes: new Uint8Array(4), classes: 3, endsInSoftmax: false, quantization: 'none', forwardMacs: 1 };
  thread.emit('message', { index: 0, result: graph });
  thread.emit('message', { index: 1, result: { ok: false, build: true, message: 'broken files' } });
  await new Promise((resolve) => setImmediate(resolve));
  t.same(settled, [], 'nothing settles while the thread runs');
  thread.emit('exit', 0);
  await Promise.all(promises);
  t.same(settled, ['first: 3 classes', 'second: broken files', 'never: model never: the export thread exited with code 0'], 'all settle at its exit, each with its own result');
});
