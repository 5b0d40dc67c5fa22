/** Which loaded models can form an ensemble, and what the 400 says when they cannot. */
import t from 'tap';
import { Engine, ensembles } from '../../src/engine/engine';
import type { GradientRunner } from '../../src/engine/runner';
import type { ModelSpec } from '../../src/models/types';
import { problem } from '../support/problem';

const NSFW = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const IMAGENET_IDS = Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')}`);

function spec(id: string, labels: string[], classIds?: string[]): ModelSpec {
  return { id, source: { kind: 'folder', path: `/m/${id}` }, format: 'layers', inputSize: [8, 8], inputRange: [0, 1], labels, ...(classIds ? { classIds } : {}), endsInSoftmax: true, alignCorners: false };
}

function engineWith(specs: ModelSpec[]): Engine {
  const runner: GradientRunner = {
    slots: 1,
    backend: 'none',
    specs: () => specs,
    directions: () => Promise.reject(new Error('no passes')),
    probabilities: () => Promise.reject(new Error('no passes')),
    dispose: async () => {},
  };
  return new Engine(runner);
}


const MODELS = [
  spec('inception_v3', NSFW),
  spec('mobilenet_v2', NSFW),
  spec('imagenet_a', IMAGENET_IDS.map((_, i) => `class ${i}`), IMAGENET_IDS),
  spec('mobilenet_v2_mid', NSFW),
  // Different label spellings, same class ids: the same classes.
  spec('imagenet_b', IMAGENET_IDS.map((_, i) => `Class ${i}, synonym`), IMAGENET_IDS),
];

t.test('models group by class ids when all have them, else by labels', async (t) => {
  t.same(ensembles(MODELS).map((g) => g.map((m) => m.id)), [['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid'], ['imagenet_a', 'imagenet_b']]);
  const reordered = spec('imagenet_c', MODELS[2].labels, [...IMAGENET_IDS].reverse());
  t.equal(ensembles([MODELS[2], reordered]).length, 2, 'same labels, different class order by id');
  t.equal(ensembles([spec('x', NSFW, NSFW), spec('y', NSFW)]).length, 1, 'one without class ids: by labels');
});

t.test('without models=, mixed classes are a 400 that names the possible ensembles', async (t) => {
  const engine = engineWith(MODELS);
  const err = problem(() => engine.classes());
  t.match(err, { status: 400, type: 'invalid-parameter', param: 'models' });
  t.equal(
    err.message,
    'the loaded models have different classes; choose an ensemble with models=: inception_v3,mobilenet_v2,mobilenet_v2_mid (5 classes: Drawing, Hentai, Neutral, Porn, Sexy) or imagenet_a,imagenet_b (1000 classes)',
  );
  t.same(engine.classes(['imagenet_b', 'imagenet_a']), { labels: MODELS[4].labels, classIds: IMAGENET_IDS }, 'a chosen ensemble works');
  t.same(engine.classes(['mobilenet_v2']), { labels: NSFW });
  const chosen = problem(() => engine.classes(['inception_v3', 'imagenet_a']));
  t.match(chosen.message, /models inception_v3 and imagenet_a have different classes and cannot form an ensemble/);
  t.match(problem(() => engine.labels(['nope'])), { status: 404, type: 'unknown-model' });
});

t.test('one group: every model, no error', async (t) => {
  const engine = engineWith(MODELS.filter((m) => m.labels === NSFW));
  t.same(engine.classes(), { labels: NSFW });
  t.same(engine.labels(), NSFW);
});
