import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { Mng } from '../../src/engine/attacks/mng';
import type { AttackContext, DirectionOracle } from '../../src/engine/attacks/base';
import { useBackend } from '../support/tiny';

// The shared loop with a hand-driven oracle: two "models", whose directions arrive when the test says.
const clean = [100, 0, 255, 50, 50, 50];

function context(): AttackContext {
  const c = tf.tensor4d(clean, [1, 1, 2, 3]);
  return { clean: c, lower: tf.maximum(tf.sub(c, 16), 0) as tf.Tensor4D, upper: tf.minimum(tf.add(c, 16), 255) as tf.Tensor4D, eps: 16, iterations: 20, random: Math.random };
}

function deferred<T>() {
  let resolve!: (v: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

class Spy extends Mng {
  prepared = 0;
  protected override perModel(x: tf.Tensor4D, g: tf.Tensor4D, ctx: AttackContext): tf.Tensor4D {
    this.prepared++;
    return super.perModel(x, g, ctx);
  }
}

t.before(() => useBackend());

t.test("each model's direction is prepared as it arrives, before the slower models finish", async (t) => {
  const ctx = context();
  const attack = new Spy('l1');
  const slow = deferred<tf.Tensor4D>();
  const oracle: DirectionOracle = async () => [Promise.resolve(tf.tensor4d([3, -1, 1, 1, 0, -1], [1, 1, 2, 3])), slow.promise];
  const before = tf.memory().numTensors;
  ctx.iterations = 1;
  const done = attack.run(ctx, oracle);
  await new Promise((r) => setImmediate(r));
  t.equal(attack.prepared, 1, 'the fast model is prepared while the slow one is still running');
  slow.resolve(tf.tensor4d([-1, 0, 0, 0, 2, 1], [1, 1, 2, 3]));
  const x = await done;
  t.equal(attack.prepared, 2, 'then the slow one');
  // The same step as advance() on both directions at once.
  const reference = attack.advance(attack.start(ctx), [tf.tensor4d([3, -1, 1, 1, 0, -1], [1, 1, 2, 3]), tf.tensor4d([-1, 0, 0, 0, 2, 1], [1, 1, 2, 3])], ctx);
  t.same(Buffer.from((await x.data()).buffer), Buffer.from((await reference.x.data()).buffer), 'same bytes as one step over both directions');
  tf.dispose([x, reference.x]);
  t.equal(tf.memory().numTensors, before, 'no tensors leak');
  tf.dispose([ctx.clean, ctx.lower, ctx.upper]);
});

t.test('a model whose pass fails: the attack fails and frees the directions that did arrive', async (t) => {
  const ctx = context();
  const attack = new Mng('l1');
  const failing = deferred<tf.Tensor4D>();
  const oracle: DirectionOracle = async () => [Promise.resolve(tf.tensor4d([3, -1, 1, 1, 0, -1], [1, 1, 2, 3])), failing.promise];
  const before = tf.memory().numTensors;
  const done = attack.run(ctx, oracle);
  await new Promise((r) => setImmediate(r));
  failing.reject(new Error('worker died'));
  await t.rejects(done, /worker died/);
  t.equal(tf.memory().numTensors, before, 'no tensors leak');
  tf.dispose([ctx.clean, ctx.lower, ctx.upper]);
});
