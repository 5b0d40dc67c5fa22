import t from 'tap';
import { wantsJson } from '../../src/http/accept';

t.test('Accept negotiation between image/png and application/json', async (t) => {
  t.equal(wantsJson(undefined), false, 'no header: PNG');
  t.equal(wantsJson('*/*'), false);
  t.equal(wantsJson('image/png'), false);
  t.equal(wantsJson('application/json'), true);
  t.equal(wantsJson('application/json, */*;q=0.8'), true);
  t.equal(wantsJson('image/png, application/json'), false, 'tie: first named wins');
  t.equal(wantsJson('application/json, image/png'), true, 'tie: first named wins');
  t.equal(wantsJson('image/png;q=0.5, application/json'), true);
  t.equal(wantsJson('application/json;q=0.1, image/*'), false);
  t.equal(wantsJson('application/*'), true);
  t.equal(wantsJson('text/html'), false, 'neither acceptable: PNG anyway');
  t.equal(wantsJson('APPLICATION/JSON'), true, 'case-insensitive');
});
