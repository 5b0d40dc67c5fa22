/**
 * TypeBox schemas shared by the routes. Objects with an $id are registered once with
 * app.addSchema (see sharedSchemas) and referenced with Type.Ref, so they become
 * components/schemas in the OpenAPI document instead of being repeated per route.
 */
import { Type, type Static, type TOptional, type TSchema } from '@sinclair/typebox';
import { StringEnum } from '../engine/attacks/definition';
import { allOptions, ATTACKS, ATTACK_METHODS, DEFAULT_METHOD, describeOption, type MethodOptionValues } from '../engine/attacks/registry';
import { TARGET_SELECTIONS, type AttackLoss } from '../engine/types';
import { MethodsJson } from './methods-schema';

export { StringEnum };

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'Stable problem type URI (https://advserve.dev/problems/<slug>).' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    param: Type.Optional(Type.String({ description: 'The request parameter at fault.' })),
    instance: Type.Optional(Type.String({ description: 'The request path.' })),
    requestId: Type.Optional(Type.String({ description: 'Same as the X-Request-Id response header.' })),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' },
);

export const LabelProb = Type.Object(
  { index: Type.Integer({ minimum: 0 }), label: Type.String(), prob: Type.Number() },
  { $id: 'LabelProb' },
);

export const ModelInfo = Type.Object(
  {
    id: Type.String(),
    labels: Type.Array(Type.String(), { description: 'Class names in the order the service presents them (background dropped; sorted by class id when there are class ids).' }),
    classIds: Type.Optional(Type.Array(Type.String(), { description: 'Stable class ids parallel to labels (e.g. WordNet ids); ensembles line classes up by them.' })),
    classes: Type.Integer({ description: 'Number of classes (labels.length).' }),
    inputSize: Type.Array(Type.Integer(), { minItems: 2, maxItems: 2, description: '[height, width]' }),
    inputRange: Type.Optional(Type.Array(Type.Number(), { minItems: 2, maxItems: 2, description: 'x = lo + p/255 * (hi - lo); absent when mean and std are given.' })),
    mean: Type.Optional(Type.Array(Type.Number(), { minItems: 3, maxItems: 3, description: 'x = (p/255 - mean) / std per channel.' })),
    std: Type.Optional(Type.Array(Type.Number(), { minItems: 3, maxItems: 3 })),
    layout: StringEnum(['NHWC', 'NCHW'] as const, { description: "The network's own input layout." }),
    channelOrder: StringEnum(['RGB', 'BGR'] as const),
    resize: StringEnum(['squash', 'center-crop'] as const, { description: 'squash: the whole image resized to inputSize; center-crop: shorter side resized, centre cropped.' }),
    cropFraction: Type.Optional(Type.Number({ description: "center-crop: the crop's share of the resized shorter side." })),
    format: StringEnum(['layers', 'graph', 'onnx'] as const),
    quantization: StringEnum(['none', 'dequantized'] as const, { description: 'dequantized: a quantized file attacked through its float equivalent.' }),
    source: Type.String({ description: 'folder:<path> or nsfwjs:<name>' }),
    backend: Type.String(),
  },
  { $id: 'ModelInfo' },
);

const Verdict = Type.Object({ label: Type.String(), prob: Type.Number() });
const VerdictAfter = Type.Object({ label: Type.String(), prob: Type.Number(), targetProb: Type.Number() });

export const ModelVerdict = Type.Object(
  { id: Type.String(), before: Verdict, after: VerdictAfter },
  { $id: 'ModelVerdict' },
);

export const AttackJson = Type.Object(
  {
    method: StringEnum(ATTACK_METHODS),
    eps: Type.Number(),
    iterations: Type.Integer({ description: 'Steps taken: the iterations asked for, or fewer when early_stop ended the attack.' }),
    stoppedEarly: Type.Boolean({ description: 'Whether early_stop ended the attack before its last iteration.' }),
    targeted: Type.Boolean(),
    target: Type.Object({ index: Type.Integer(), label: Type.String() }),
    success: Type.Boolean(),
    linf: Type.Number({ description: 'L-infinity distance of the output from the input, 0..255 scale.' }),
    l2: Type.Number(),
    elapsedMs: Type.Number(),
    models: Type.Array(Type.Ref(ModelVerdict)),
    ensemble: Type.Object({ before: Verdict, after: VerdictAfter }),
    image: Type.String({ contentEncoding: 'base64', description: 'The adversarial image, base64-encoded PNG.' }),
  },
  { $id: 'AttackJson' },
);

export const ClassifyJson = Type.Object(
  {
    models: Type.Array(Type.Object({ id: Type.String(), top: Type.Array(Type.Ref(LabelProb)) })),
    ensemble: Type.Object({ top: Type.Array(Type.Ref(LabelProb)) }),
  },
  { $id: 'ClassifyJson' },
);

export const ModelsJson = Type.Object(
  { models: Type.Array(Type.Ref(ModelInfo)), backend: Type.String() },
  { $id: 'ModelsJson' },
);

export const HealthJson = Type.Object({ status: StringEnum(['ok'] as const) }, { $id: 'HealthJson' });

export const DefenseEvalJson = Type.Object(
  {
    defenses: Type.Array(
      Type.Object({
        defense: Type.String({ description: 'The defense spec as given (spaces read as +), e.g. jpeg75+mobilenet_v2_mid.' }),
        n: Type.Integer({ minimum: 0, description: 'Images classified.' }),
        hits: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Predictions equal to the target (null when no targets were given).' }),
        misses: Type.Integer({ minimum: 0, description: 'Predictions different from the clean label.' }),
        hitRate: Type.Union([Type.Number(), Type.Null()], { description: 'hits / n (null when no targets were given).' }),
        missRate: Type.Number({ description: 'misses / n.' }),
        predictions: Type.Array(
          Type.Object({
            image: Type.Integer({ minimum: 0, description: 'Position of the image in the upload.' }),
            name: Type.Optional(Type.String({ description: 'The uploaded file name.' })),
            index: Type.Integer({ minimum: 0, description: 'Predicted class index.' }),
            label: Type.String({ description: 'Predicted label.' }),
            prob: Type.Number({ description: 'Its probability under the defense.' }),
            targetProb: Type.Optional(Type.Number({ description: "The defense's probability of the image's target (only when targets were given): how close a miss came." })),
          }),
        ),
      }),
    ),
  },
  { $id: 'DefenseEvalJson' },
);

/** Registration order matters: a schema must be added after the ones it references. */
export const sharedSchemas: TSchema[] = [Problem, LabelProb, ModelInfo, ModelVerdict, AttackJson, ClassifyJson, ModelsJson, HealthJson, DefenseEvalJson, MethodsJson];

// ---- parameters (query string, or multipart text fields with the same names) ----

const modelsParam = Type.String({ description: 'Comma-separated model ids; all loaded models when omitted.', examples: ['inception_v3,mobilenet_v2'] });

/**
 * Every registry option as a query parameter (and form field). A method option several methods
 * take has one parameter; its default depends on the method, so the schema gives none (the
 * engine fills it in) and the description lists them. The modifiers' defaults are the same for
 * every method and stay in the schema.
 */
function registryParams(): Record<string, TOptional<TSchema>> {
  const out: Record<string, TOptional<TSchema>> = {};
  for (const o of allOptions()) {
    const { default: fallback, description: _description, ...rest } = o.schema as TSchema & { default?: unknown; description?: string };
    out[o.name] = Type.Optional(Type.Unsafe({ ...rest, ...(o.modifier && fallback !== undefined ? { default: fallback } : {}), description: describeOption(o) }));
  }
  return out;
}

const attackCommon = {
  eps: Type.Optional(Type.Number({ minimum: 1, maximum: 64, default: 16, description: 'L-infinity budget on the 0..255 scale, 1..64. The output is rounded to 8 bits, so a budget below 1 could not change a pixel: it is refused.' })),
  iterations: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })),
  method: Type.Optional(StringEnum(ATTACK_METHODS, { default: DEFAULT_METHOD, description: `The attack (GET /v1/methods lists each with its paper and options): ${ATTACKS.map((a) => `${a.id} (${a.title})`).join(', ')}.` })),
  models: Type.Optional(modelsParam),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: 'Seeds random choices (diverse inputs, random starts, samples); default 0. Same seed and inputs, same output bytes.' })),
  ...registryParams(),
};

/** The registry options as the routes read them (the schema's own Static cannot see the derived names). */
export type RegistryParamValues = MethodOptionValues & { di?: boolean; ti?: number; loss?: AttackLoss; kappa?: number };

/**
 * `target` is required, but it may come as a multipart field instead of the query string,
 * so the schema cannot mark it required; the route checks it after merging the two.
 */
export const TargetedParams = Type.Object({
  target: Type.Optional(Type.String({ minLength: 1, description: 'Required (query or form field): class index, label, one of a label\'s comma-separated synonyms, or class id (e.g. n02123045); case-insensitive.', examples: ['Neutral', '2'] })),
  ...attackCommon,
});
export type TargetedParams = Static<typeof TargetedParams> & RegistryParamValues;

export const UntargetedParams = Type.Object({
  ...attackCommon,
  target_selection: Type.Optional(StringEnum(TARGET_SELECTIONS, { default: 'least-likely', description: 'least-likely: push towards the least likely class; max-loss: push away from the clean label.' })),
  label: Type.Optional(Type.String({ minLength: 1, description: 'max-loss only: the clean label (index, label, synonym or class id); the ensemble prediction when omitted.' })),
});
export type UntargetedParams = Static<typeof UntargetedParams> & RegistryParamValues;

export const ClassifyParams = Type.Object({
  models: Type.Optional(modelsParam),
  top_k: Type.Optional(Type.Integer({ minimum: 1, default: 5, description: 'At most the number of labels.' })),
});
export type ClassifyParams = Static<typeof ClassifyParams>;

export const DefenseEvalParams = Type.Object({
  labels: Type.Optional(Type.String({ minLength: 1, description: 'Required (query or form field): the clean labels, comma-separated in image order (index, synonym or class id, as for target).', examples: ['Neutral,Porn'] })),
  targets: Type.Optional(Type.String({ minLength: 1, description: 'The attack targets, comma-separated in image order (index, synonym or class id); omit for untargeted images.', examples: ['Drawing,Drawing'] })),
  defenses: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated defenses: [transform[param]+]...model_id, transforms jpeg (quality, 75), bits (3), median (window, 3), resize-pad, blur (sigma, 1); every loaded model alone when omitted.', examples: ['mobilenet_v2,jpeg75+mobilenet_v2_mid,median3+resize-pad+inception_v3'] })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: 'Seeds the random transforms (resize-pad); default 0.' })),
});
export type DefenseEvalParams = Static<typeof DefenseEvalParams>;

/** Multipart form schemas, for the OpenAPI document only (the routes read multipart themselves). */
export const imageFormSchema = (params: TSchema) => ({
  type: 'object',
  required: ['image'],
  properties: {
    image: { type: 'string', format: 'binary', description: 'PNG, JPEG or WebP.' },
    ...(params as unknown as { properties: Record<string, unknown> }).properties,
  },
});
