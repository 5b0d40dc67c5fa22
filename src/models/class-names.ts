/**
 * Resolving a class named by a user (HTTP parameter, CLI flag) to its index: an index, a label,
 * one of a label's comma-separated synonyms (ImageNet's 'tabby, tabby cat'), or a class id
 * (WordNet id such as n02123045), all case-insensitive.
 */
import { badParam, unknownLabel } from '../errors';

export interface ClassList {
  labels: string[];
  classIds?: string[];
}

/** Label sets this small are listed in full when a name is not found. */
const LIST_ALL_BELOW = 20;
const MAX_SUGGESTIONS = 5;

const synonyms = (label: string) => label.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

const describeClass = (classes: ClassList, i: number) => `${classes.labels[i]} (${i}${classes.classIds ? `, ${classes.classIds[i]}` : ''})`;

/** Up to 5 classes close to value: labels containing it, then the smallest edit distance to a label, synonym or class id. */
export function closeMatches(classes: ClassList, value: string): number[] {
  const lower = value.trim().toLowerCase().slice(0, 200);
  const containing = classes.labels.flatMap((l, i) => (l.toLowerCase().includes(lower) ? [i] : []));
  const out = containing.slice(0, MAX_SUGGESTIONS);
  if (out.length < MAX_SUGGESTIONS) {
    const scored = classes.labels
      .map((l, i) => {
        const names = [l.toLowerCase(), ...synonyms(l), ...(classes.classIds ? [classes.classIds[i].toLowerCase()] : [])];
        return { i, d: Math.min(...names.map((n) => levenshtein(lower, n))) };
      })
      .filter(({ i }) => !out.includes(i))
      .sort((a, b) => a.d - b.d || a.i - b.i);
    for (const { i } of scored.slice(0, MAX_SUGGESTIONS - out.length)) out.push(i);
  }
  return out;
}

/**
 * The index of the class that value names. Throws ApiError 400 (with `param`): invalid-parameter
 * for an index out of range, unknown-label for an unknown name (with close matches) or an
 * ambiguous one (with the candidates and their indices).
 */
export function resolveClass(classes: ClassList, value: string | number, param: string): number {
  const n = classes.labels.length;
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (typeof value === 'number' || /^[+-]?\d+$/.test(text)) {
    const index = Number(text);
    if (!Number.isInteger(index) || index < 0 || index >= n) {
      throw badParam(param, `Class index ${text} is out of range; the models have ${n} labels (0..${n - 1}).`);
    }
    return index;
  }
  const lower = text.toLowerCase();
  // Tiers: a class id, then a whole label, then a synonym; the first tier with a match decides.
  const tiers: ((i: number) => boolean)[] = [
    (i) => classes.classIds?.[i]?.toLowerCase() === lower,
    (i) => classes.labels[i].toLowerCase() === lower,
    (i) => synonyms(classes.labels[i]).includes(lower),
  ];
  for (const matches of tiers) {
    const found = classes.labels.flatMap((_, i) => (matches(i) ? [i] : []));
    if (found.length === 1) return found[0];
    if (found.length > 1) {
      throw unknownLabel(
        param,
        `"${text}" is ambiguous: it names ${found.length} classes: ${found.map((i) => describeClass(classes, i)).join('; ')}. Give the index${classes.classIds ? ' or the class id' : ''} instead.`,
      );
    }
  }
  const close = closeMatches(classes, text).map((i) => describeClass(classes, i));
  const all = n <= LIST_ALL_BELOW ? `; labels: ${classes.labels.join(', ')}` : '';
  const forms = [`a class index (0..${n - 1})`, 'a label', ...(classes.classIds ? ['a synonym', 'a class id'] : ['a synonym'])];
  const give = `${forms.slice(0, -1).join(', ')} or ${forms[forms.length - 1]}`;
  throw unknownLabel(param, `"${text}" is not a label of the selected models${all}. Give ${give}. Close matches: ${close.join('; ')}.`);
}

/**
 * Whether two models can form an ensemble: the same classes in the same order, compared by
 * class id when both have class ids, else by label.
 */
export function sameClasses(a: ClassList, b: ClassList): boolean {
  const key = (c: ClassList, byId: boolean) => (byId ? c.classIds! : c.labels).join('\u0000');
  const byId = a.classIds !== undefined && b.classIds !== undefined;
  return a.labels.length === b.labels.length && key(a, byId) === key(b, byId);
}
