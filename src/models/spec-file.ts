/**
 * A model folder's `advserve.json`: what the service needs to know about a user's own network
 * (file, classes, input size, layout, scaling, resize), validated field by field. Every problem
 * is collected and reported at once, as one Error naming the file and each offending field.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, relative, resolve, isAbsolute } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { ModelFormat, ModelSpec } from './types';

const Num3 = Type.Tuple([Type.Number(), Type.Number(), Type.Number()]);
const StringList = Type.Union([Type.Array(Type.String()), Type.String()]);

/** The fields of advserve.json; anything else is refused (typos). */
export const AdvserveJson = Type.Object(
  {
    /** The model id (default: the folder's name); letters, digits, `_`, `.`, `-`. */
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' })),
    /** The model file in the folder, ending in .onnx or .json (default: whichever of model.onnx / model.json exists). */
    file: Type.Optional(Type.String({ pattern: '\\.(onnx|json)$' })),
    /** Class names, one per output: an inline array, or the name of a JSON file in the folder holding the array. */
    labels: StringList,
    /** Optional stable class ids (e.g. WordNet ids) parallel to labels, unique; same two forms. The classes are presented sorted by them. */
    classIds: Type.Optional(StringList),
    /** Output 0 is a background class to drop (TF-slim's 1001 outputs); labels/classIds then have N+1 entries (background first) or N. */
    background: Type.Optional(Type.Boolean()),
    /** [height, width] the network takes, in pixels. */
    inputSize: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]),
    /** The network input's layout: NCHW (default for .onnx) or NHWC (tfjs models, always). */
    layout: Type.Optional(Type.Union([Type.Literal('NCHW'), Type.Literal('NHWC')])),
    /** Channel order the network expects (default RGB). */
    channelOrder: Type.Optional(Type.Union([Type.Literal('RGB'), Type.Literal('BGR')])),
    /** Scaling, form 1: x = lo + p/255 * (hi - lo). Give this, or mean and std. */
    inputRange: Type.Optional(Type.Tuple([Type.Number(), Type.Number()])),
    /** Scaling, form 2 (torchvision's): x = (p/255 - mean) / std per channel; both mean and std. */
    mean: Type.Optional(Num3),
    std: Type.Optional(Type.Tuple([Type.Number({ exclusiveMinimum: 0 }), Type.Number({ exclusiveMinimum: 0 }), Type.Number({ exclusiveMinimum: 0 })])),
    /** How an image becomes inputSize: `squash` (resize the whole image, default) or `center-crop` (resize the shorter side, crop the centre). */
    resize: Type.Optional(Type.Union([Type.Literal('squash'), Type.Literal('center-crop')])),
    /** center-crop only: the crop's share of the resized shorter side, in (0, 1] (default 0.875: 224 of 256). */
    cropFraction: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    /** Bilinear resize convention (default false: half-pixel centres). */
    alignCorners: Type.Optional(Type.Boolean()),
    /** What the network outputs: `logits` (default) or `probabilities` (their log is taken as logits). */
    output: Type.Optional(Type.Union([Type.Literal('logits'), Type.Literal('probabilities')])),
  },
  { additionalProperties: false },
);
export type AdvserveJson = Static<typeof AdvserveJson>;

const FIELDS = Object.keys(AdvserveJson.properties);

/** What each field must be, for the error message. */
const EXPECTED: Record<string, string> = {
  id: 'must be a string of letters, digits, "_", "." or "-" (e.g. "my_net")',
  file: 'must name a .onnx or .json file in the folder (e.g. "model.onnx")',
  labels: 'must be an array of at least 2 strings, or the name of a JSON file in the folder holding one',
  classIds: 'must be an array of strings parallel to labels, or the name of a JSON file in the folder holding one',
  background: 'must be true or false',
  inputSize: 'must be [height, width] in pixels (positive integers)',
  layout: 'must be "NCHW" or "NHWC"',
  channelOrder: 'must be "RGB" or "BGR"',
  inputRange: 'must be [low, high] with low < high, e.g. [0, 1]',
  mean: 'must be 3 numbers (per channel, on the [0, 1] scale, e.g. [0.485, 0.456, 0.406])',
  std: 'must be 3 positive numbers (e.g. [0.229, 0.224, 0.225])',
  resize: 'must be "squash" or "center-crop"',
  cropFraction: 'must be a number in (0, 1], e.g. 0.875',
  alignCorners: 'must be true or false',
  output: 'must be "logits" or "probabilities"',
};

class Problems {
  private readonly list: string[] = [];
  private readonly seen = new Set<string>();
  add(field: string, message: string): void {
    const line = `field "${field}": ${message}`;
    if (!this.seen.has(line)) this.list.push(line);
    this.seen.add(line);
  }
  has(field: string): boolean {
    return this.list.some((l) => l.startsWith(`field "${field}":`));
  }
  throwIfAny(path: string): void {
    if (this.list.length) throw new Error(`${path}: ${this.list.join('; ')}`);
  }
}

/** A file named by a field, which must stay inside the folder. */
function inFolder(dir: string, name: string): string | undefined {
  const full = resolve(dir, name);
  const rel = relative(resolve(dir), full);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? undefined : full;
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8'));
}

/** labels / classIds: inline, or read from a JSON file in the folder. */
async function stringList(dir: string, field: string, value: string[] | string, problems: Problems): Promise<string[] | undefined> {
  if (Array.isArray(value)) return value;
  const file = inFolder(dir, value);
  if (!file) {
    problems.add(field, `"${value}" must name a file inside the model folder`);
    return undefined;
  }
  if (!existsSync(file)) {
    problems.add(field, `file "${value}" not found in ${dir}`);
    return undefined;
  }
  try {
    const list = await readJson(file);
    if (Array.isArray(list) && list.every((s) => typeof s === 'string')) return list as string[];
    problems.add(field, `file "${value}" must hold a JSON array of strings`);
  } catch (err) {
    problems.add(field, `file "${value}" is not valid JSON (${(err as Error).message})`);
  }
  return undefined;
}

/** The model file and its format. */
async function modelFile(dir: string, file: string | undefined, problems: Problems): Promise<{ file: string; format: ModelFormat } | undefined> {
  let name = file;
  if (name === undefined) {
    const found = ['model.onnx', 'model.json'].filter((f) => existsSync(join(dir, f)));
    if (found.length !== 1) {
      problems.add('file', found.length ? 'both model.onnx and model.json are in the folder; say which one' : 'no model.onnx or model.json in the folder');
      return undefined;
    }
    name = found[0];
  }
  const full = inFolder(dir, name);
  if (!full) {
    problems.add('file', `"${name}" must name a file inside the model folder`);
    return undefined;
  }
  if (!existsSync(full)) {
    problems.add('file', `"${name}" not found in ${dir}`);
    return undefined;
  }
  if (name.endsWith('.onnx')) return { file: name, format: 'onnx' };
  try {
    const model = (await readJson(full)) as { format?: string };
    return { file: name, format: model?.format === 'graph-model' ? 'graph' : 'layers' };
  } catch (err) {
    problems.add('file', `"${name}" is not valid JSON (${(err as Error).message})`);
    return undefined;
  }
}

const isBackground = (s: string | undefined) => s !== undefined && s.trim().toLowerCase() === 'background';

/** Reads `<dir>/advserve.json` (and the files it names) into a spec. Throws one Error listing every problem. */
export async function readFolderSpec(dir: string): Promise<ModelSpec> {
  const path = join(dir, 'advserve.json');
  let raw: unknown;
  try {
    raw = await readJson(path);
  } catch (err) {
    throw new Error(`${path}: cannot read it (${(err as Error).message})`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: must hold a JSON object`);

  const problems = new Problems();
  for (const e of Value.Errors(AdvserveJson, raw)) {
    const field = e.path.split('/')[1];
    if (!field) {
      // A required field is missing: TypeBox reports it on the object and again on the property.
      continue;
    }
    if (!FIELDS.includes(field)) problems.add(field, `unknown field (known: ${FIELDS.join(', ')})`);
    else problems.add(field, (raw as Record<string, unknown>)[field] === undefined ? `is required; ${EXPECTED[field]}` : EXPECTED[field]);
  }
  const meta = raw as Partial<AdvserveJson>;
  const valid = (field: keyof AdvserveJson) => meta[field] !== undefined && !problems.has(field);

  const id = meta.id ?? basename(dir);
  if (meta.id === undefined && !/^[A-Za-z0-9_.-]+$/.test(id)) problems.add('id', `the folder name "${id}" is not a valid id; give one: ${EXPECTED.id}`);

  const model = problems.has('file') ? undefined : await modelFile(dir, meta.file, problems);
  const onnx = model?.format === 'onnx';
  const layout = meta.layout ?? (onnx ? 'NCHW' : 'NHWC');
  if (model && !onnx && layout !== 'NHWC') problems.add('layout', `a tfjs model (${model.file}) takes NHWC; "${layout}" is for ONNX models`);

  // Scaling: exactly one form.
  const hasRange = meta.inputRange !== undefined;
  const hasNorm = meta.mean !== undefined || meta.std !== undefined;
  if (hasRange && hasNorm) {
    problems.add('inputRange', 'give either inputRange or mean and std, not both');
    problems.add(meta.mean !== undefined ? 'mean' : 'std', 'give either inputRange or mean and std, not both');
  } else if (!hasRange && !hasNorm) {
    problems.add('inputRange', 'the input scaling is missing: give inputRange [low, high], or mean and std');
  } else if (hasNorm) {
    if (meta.mean === undefined) problems.add('mean', 'std needs mean too: ' + EXPECTED.mean);
    if (meta.std === undefined) problems.add('std', 'mean needs std too: ' + EXPECTED.std);
  } else if (valid('inputRange') && !(meta.inputRange![0] < meta.inputRange![1])) {
    problems.add('inputRange', EXPECTED.inputRange);
  }

  const resize = meta.resize ?? 'squash';
  if (meta.cropFraction !== undefined && resize !== 'center-crop') problems.add('cropFraction', 'only applies with "resize": "center-crop"');

  // Classes.
  const background = meta.background ?? false;
  let labels = valid('labels') ? await stringList(dir, 'labels', meta.labels!, problems) : undefined;
  let classIds = valid('classIds') ? await stringList(dir, 'classIds', meta.classIds!, problems) : undefined;
  let offset = 0;
  if (labels && background && (isBackground(labels[0]) || isBackground(classIds?.[0]))) {
    // The lists include the background entry (first); drop it with the output.
    offset = 1;
    labels = labels.slice(1);
    classIds = classIds?.slice(1);
  }
  if (labels && labels.length < 2) problems.add('labels', `has ${labels.length} class(es)${offset ? ' after the background entry' : ''}; ${EXPECTED.labels}`);
  if (labels && classIds) {
    if (classIds.length !== labels.length) {
      problems.add('classIds', `has ${classIds.length + offset} entries but labels has ${labels.length + offset}; they must be parallel`);
    } else {
      const seen = new Map<string, number>();
      const dups: string[] = [];
      classIds.forEach((c, i) => {
        if (seen.has(c)) dups.push(`"${c}" (entries ${seen.get(c)! + offset} and ${i + offset})`);
        else seen.set(c, i);
      });
      if (dups.length) problems.add('classIds', `must be unique; repeated: ${dups.slice(0, 5).join(', ')}${dups.length > 5 ? ', ...' : ''}`);
    }
  }

  problems.throwIfAny(path);

  // Presented order: sorted by classId when there are class ids (e.g. WordNet ids -> the standard
  // ImageNet-1k order), else the network's own; outputMap says which network output each reads.
  const own = labels!.map((_, i) => i);
  const order = classIds ? [...own].sort((a, b) => (classIds![a] < classIds![b] ? -1 : classIds![a] > classIds![b] ? 1 : 0)) : own;
  const shift = background ? 1 : 0;
  const outputMap = order.map((i) => i + shift);
  const identity = outputMap.every((o, j) => o === j);

  return {
    id,
    source: { kind: 'folder', path: dir },
    format: model!.format,
    file: model!.file,
    inputSize: meta.inputSize as [number, number],
    ...(hasRange ? { inputRange: meta.inputRange as [number, number] } : { mean: meta.mean as [number, number, number], std: meta.std as [number, number, number] }),
    layout,
    channelOrder: meta.channelOrder ?? 'RGB',
    resize,
    ...(resize === 'center-crop' ? { cropFraction: meta.cropFraction ?? 0.875 } : {}),
    labels: order.map((i) => labels![i]),
    ...(classIds ? { classIds: order.map((i) => classIds![i]) } : {}),
    ...(identity ? {} : { outputMap }),
    output: meta.output ?? 'logits',
    endsInSoftmax: true,
    alignCorners: meta.alignCorners ?? false,
  };
}
