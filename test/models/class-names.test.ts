/** Class names: index, label, synonym, class id, case; ambiguous and unknown names. */
import t from 'tap';
import { closeMatches, resolveClass, sameClasses } from '../../src/models/class-names';
import { problem } from '../support/problem';

const IMAGENET = {
  labels: ['tench, Tinca tinca', 'tabby, tabby cat', 'tiger cat', 'Egyptian cat', 'crane', 'crane', 'jellyfish'],
  classIds: ['n01440764', 'n02123045', 'n02123159', 'n02124075', 'n02012849', 'n03126707', 'n01910747'],
};
const NSFW = { labels: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] };


t.test('indices: numbers and digit strings, in range', async (t) => {
  t.equal(resolveClass(NSFW, 3, 'target'), 3);
  t.equal(resolveClass(NSFW, ' 0 ', 'target'), 0);
  t.equal(resolveClass(NSFW, '+4', 'target'), 4);
  for (const bad of [5, -1, 1.5, '5', '-1']) {
    const err = problem(() => resolveClass(NSFW, bad, 'target'));
    t.match(err, { status: 400, type: 'invalid-parameter', param: 'target' }, `${bad}`);
    t.match(err.message, /out of range; the models have 5 labels \(0\.\.4\)/);
  }
});

t.test('labels, synonyms and class ids, case-insensitive', async (t) => {
  t.equal(resolveClass(NSFW, 'porn', 'target'), 3);
  t.equal(resolveClass(NSFW, 'SEXY', 'target'), 4);
  t.equal(resolveClass(IMAGENET, 'tabby, tabby cat', 'target'), 1, 'whole label');
  t.equal(resolveClass(IMAGENET, 'Tabby Cat', 'target'), 1, 'second synonym');
  t.equal(resolveClass(IMAGENET, 'tabby', 'target'), 1, 'first synonym');
  t.equal(resolveClass(IMAGENET, 'tinca tinca', 'target'), 0);
  t.equal(resolveClass(IMAGENET, 'n02124075', 'target'), 3, 'class id');
  t.equal(resolveClass(IMAGENET, 'N02123159', 'target'), 2, 'class id, upper case');
  t.equal(resolveClass(IMAGENET, 'n03126707', 'target'), 5, 'the class id tells the two cranes apart');
});

t.test('ambiguous names list the candidates with their indices', async (t) => {
  const err = problem(() => resolveClass(IMAGENET, 'Crane', 'label'));
  t.match(err, { status: 400, type: 'unknown-label', param: 'label' });
  t.match(err.message, /"Crane" is ambiguous: it names 2 classes: crane \(4, n02012849\); crane \(5, n03126707\)\. Give the index or the class id/);
});

t.test('unknown names: 400 unknown-label with close matches', async (t) => {
  const err = problem(() => resolveClass(IMAGENET, 'cat', 'target'));
  t.match(err, { status: 400, type: 'unknown-label', param: 'target' });
  t.match(err.message, /"cat" is not a label of the selected models; labels: .*Close matches: tabby, tabby cat \(1, n02123045\); tiger cat \(2, n02123159\); Egyptian cat \(3, n02124075\)/);
  const typo = problem(() => resolveClass(IMAGENET, 'jelyfish', 'target'));
  t.match(typo.message, /Close matches: jellyfish \(6, n01910747\)/, 'edit distance ranks the typo first');
  const nsfw = problem(() => resolveClass(NSFW, 'Dragon', 'target'));
  t.match(nsfw.message, /labels: Drawing, Hentai, Neutral, Porn, Sexy/, 'small label sets are listed in full');
  t.notMatch(nsfw.message, /class id/, 'no class ids to suggest');
  const many = { labels: Array.from({ length: 100 }, (_, i) => `class ${i}`) };
  const big = problem(() => resolveClass(many, 'clas 42', 'target'));
  t.notMatch(big.message, /labels: /, 'large label sets are not listed');
  t.equal(closeMatches(many, 'clas 42').length, 5, 'at most 5 suggestions');
  t.equal(closeMatches(many, 'clas 42')[0], 42);
});

t.test('sameClasses: by class id when both have them, else by label', async (t) => {
  t.ok(sameClasses({ labels: ['a', 'b'], classIds: ['x', 'y'] }, { labels: ['A', 'B'], classIds: ['x', 'y'] }));
  t.notOk(sameClasses({ labels: ['a', 'b'], classIds: ['x', 'y'] }, { labels: ['a', 'b'], classIds: ['y', 'x'] }));
  t.ok(sameClasses({ labels: ['a', 'b'], classIds: ['x', 'y'] }, { labels: ['a', 'b'] }));
  t.notOk(sameClasses({ labels: ['a', 'b'] }, { labels: ['a', 'c'] }));
});
