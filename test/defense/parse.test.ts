/** Defense specs: good and bad. */
import t from 'tap';
import { ApiError } from '../../src/errors';
import { parseDefense, parseDefenseList, plainDefenses } from '../../src/defense/parse';

const MODELS = ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid'];

t.test('good specs', async (t) => {
  t.same(parseDefense('jpeg75+mobilenet_v2_mid', MODELS), { spec: 'jpeg75+mobilenet_v2_mid', transforms: [{ name: 'jpeg', param: 75 }], model: 'mobilenet_v2_mid' });
  t.same(parseDefense('bits3+inception_v3', MODELS).transforms, [{ name: 'bits', param: 3 }]);
  t.same(parseDefense('median3+resize-pad+mobilenet_v2', MODELS).transforms, [{ name: 'median', param: 3 }, { name: 'resize-pad' }]);
  t.same(parseDefense('blur1.5+inception_v3', MODELS).transforms, [{ name: 'blur', param: 1.5 }]);
  t.same(parseDefense('mobilenet_v2', MODELS), { spec: 'mobilenet_v2', transforms: [], model: 'mobilenet_v2' }, 'a plain model id');
  t.same(parseDefense(' jpeg+bits+median+blur+mobilenet_v2 ', MODELS).transforms, [
    { name: 'jpeg', param: 75 },
    { name: 'bits', param: 3 },
    { name: 'median', param: 3 },
    { name: 'blur', param: 1 },
  ], 'defaults when no digits follow');
  t.same(parseDefense('JPEG50+mobilenet_v2', MODELS).transforms, [{ name: 'jpeg', param: 50 }], 'transform names are case-insensitive');
  const list = parseDefenseList('mobilenet_v2, jpeg75+mobilenet_v2_mid,mobilenet_v2,', MODELS);
  t.same(list.map((d) => d.spec), ['mobilenet_v2', 'jpeg75+mobilenet_v2_mid'], 'duplicates and empty entries dropped');
  t.same(parseDefense('median3 resize-pad + mobilenet_v2', MODELS).spec, 'median3+resize-pad+mobilenet_v2', 'spaces (a "+" decoded from a URL) separate like "+"');
  t.same(plainDefenses(MODELS).map((d) => d.spec), MODELS);
});

t.test('bad specs', async (t) => {
  const fails = (spec: string, status: number, type: string, what: string) => {
    try {
      parseDefenseList(spec, MODELS);
      t.fail(`${what}: accepted "${spec}"`);
    } catch (err) {
      t.ok(err instanceof ApiError, what);
      t.match(err, { status, type, param: 'defenses' }, `${what}: ${(err as Error).message}`);
    }
  };
  fails('sharpen2+mobilenet_v2', 400, 'invalid-parameter', 'unknown transform');
  fails('jpeg75+jpeg+nope', 404, 'unknown-model', 'unknown model');
  fails('jpeg75', 404, 'unknown-model', 'no model at the end');
  fails('jpeg0+mobilenet_v2', 400, 'invalid-parameter', 'jpeg quality 0');
  fails('jpeg101+mobilenet_v2', 400, 'invalid-parameter', 'jpeg quality 101');
  fails('jpeg7.5+mobilenet_v2', 400, 'invalid-parameter', 'fractional quality');
  fails('bits0+mobilenet_v2', 400, 'invalid-parameter', 'bits 0');
  fails('bits9+mobilenet_v2', 400, 'invalid-parameter', 'bits 9');
  fails('median0+mobilenet_v2', 400, 'invalid-parameter', 'median 0');
  fails('median99+mobilenet_v2', 400, 'invalid-parameter', 'median too large');
  fails('resize-pad3+mobilenet_v2', 400, 'invalid-parameter', 'resize-pad takes no parameter');
  fails('blur0+mobilenet_v2', 400, 'invalid-parameter', 'blur sigma 0');
  fails('jpeg75++mobilenet_v2', 400, 'invalid-parameter', 'empty element');
  fails('+mobilenet_v2', 400, 'invalid-parameter', 'leading plus');
  fails('jpeg-75+mobilenet_v2', 400, 'invalid-parameter', 'sign in parameter');
  fails(' , ,', 400, 'invalid-parameter', 'empty list');
  fails('mobilenet_v2,bits3+inception', 404, 'unknown-model', 'one bad entry fails the list');
});
