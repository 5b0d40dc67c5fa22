/** POST /v1/defense/evaluate: classify (adversarial) images under defenses and count hits and misses. */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { SwaggerTransform } from '@fastify/swagger';
import sharp from 'sharp';
import { checkWorkBudget, estimateWork } from '../defense/cost';
import { evaluateDefenses, modelInputSize, type EvalImage } from '../defense/evaluate';
import { parseDefenseList, plainDefenses } from '../defense/parse';
import { TransformPool } from '../defense/pool/transform-pool';
import { ApiError, badParam } from '../errors';
import { requestAbort } from '../http/abort';
import { readUploads } from '../http/multi-upload';
import { mergeParams, strictQuery } from '../http/params';
import { requireReady } from '../http/readiness';
import { decodeImage } from '../images/decode';
import { resolveClass, sameClasses } from '../models/class-names';
import type { RouteDeps } from './attack';
import { jsonOk, problems } from './responses';
import { DefenseEvalJson, DefenseEvalParams } from './schemas';

/** Label lists are long for 64 images; parameters of the single-image routes stay at 1 KiB. */
const MAX_LIST_FIELD_BYTES = 64 * 1024;

const binary = { type: 'string', format: 'binary' };
const files = { type: 'array', items: binary };

const body: SwaggerTransform = ({ schema, url }) => ({
  url,
  schema: {
    ...schema,
    body: {
      description: 'The images: multipart field "images" (or a repeated "image"), with parameters as further form fields (which override the query string); or a single raw image as the body.',
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            properties: {
              images: { ...files, description: 'PNG, JPEG or WebP files, in the order of labels and targets.' },
              image: { ...files, description: 'Same as images.' },
              ...(DefenseEvalParams as unknown as { properties: Record<string, unknown> }).properties,
            },
          },
        },
        'image/png': { schema: binary },
        'image/jpeg': { schema: binary },
        'image/webp': { schema: binary },
      },
    },
  },
});

function splitList(raw: string, param: string, count: number): string[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw badParam(param, `Parameter "${param}" has an empty entry; give one class (index or label) per image, comma-separated.`);
  if (items.length !== count) {
    throw badParam(param, `Parameter "${param}" has ${items.length} entr${items.length === 1 ? 'y' : 'ies'} but ${count} image${count === 1 ? ' was' : 's were'} sent; give one per image, in image order.`);
  }
  return items;
}

/**
 * Pixels in each upload as its header declares them (first frame), read without decoding;
 * 0 for a file that is not a readable image (decoding it then gives the 415).
 */
const declaredPixels = (data: Buffer) =>
  sharp(data, { limitInputPixels: false })
    .metadata()
    .then((m) => (m.width ?? 0) * (m.pageHeight ?? m.height ?? 0), () => 0);

export const defenseRoutes: FastifyPluginAsync<RouteDeps> = async (app, { engine, config }) => {
  const transforms = new TransformPool(config.defenseThreads);
  app.addHook('onClose', () => transforms.close());

  app.post<{ Querystring: DefenseEvalParams }>(
    '/v1/defense/evaluate',
    {
      onRequest: [requireReady(engine), strictQuery],
      config: { swaggerTransform: body, auth: { scope: 'attack', job: true } },
      schema: {
        operationId: 'evaluateDefenses',
        tags: ['defense'],
        summary: 'Classify images under defenses (input transformations in front of a model) and count target hits and clean-label misses.',
        querystring: DefenseEvalParams,
        response: {
          200: jsonOk(Type.Ref(DefenseEvalJson), 'Per defense: counts, rates and per-image predictions.'),
          ...problems(400, 404, 413, 415, 429, 500, 503, 504),
        },
      },
    },
    async (request, reply) => {
      const upload = await readUploads(request, { maxFiles: config.maxFiles, maxBytes: config.maxBodyBytes, maxFieldBytes: MAX_LIST_FIELD_BYTES });
      const p = mergeParams<DefenseEvalParams>(request, upload.fields);
      const models = engine.listModels();
      const ids = models.map((m) => m.id);
      const defenses = p.defenses === undefined ? plainDefenses(ids) : parseDefenseList(p.defenses, ids, 'defenses', { maxTransforms: config.defenseMaxTransforms });

      const used = models.filter((m) => defenses.some((d) => d.model === m.id));
      const classes = { labels: used[0].labels, ...(used[0].classIds ? { classIds: used[0].classIds } : {}) };
      const mixed = used.find((m) => !sameClasses(m, classes));
      if (mixed) throw badParam('defenses', `Models ${used[0].id} and ${mixed.id} have different classes; evaluate them in separate requests.`);

      const n = upload.images.length;
      if (p.labels === undefined) throw badParam('labels', 'Parameter "labels" is required: the clean label of each image, comma-separated in image order.');
      const cleanLabels = splitList(p.labels, 'labels', n).map((v) => resolveClass(classes, v, 'labels'));
      const targets = p.targets === undefined ? undefined : splitList(p.targets, 'targets', n).map((v) => resolveClass(classes, v, 'targets'));

      if (defenses.some((d) => d.transforms.length > 0)) {
        const pixels = await Promise.all(upload.images.map((f) => declaredPixels(f.data)));
        checkWorkBudget(estimateWork(defenses, pixels, (model) => modelInputSize(engine, model)), pixels, config.defenseWorkBudget);
      }

      const items: EvalImage[] = [];
      for (const [i, file] of upload.images.entries()) {
        items.push({
          image: await decodeImage(file.data, config),
          label: cleanLabels[i],
          ...(targets ? { target: targets[i] } : {}),
          ...(file.filename !== undefined ? { name: file.filename } : {}),
        });
      }

      const abort = requestAbort(reply, config.requestTimeoutMs);
      try {
        return { defenses: await evaluateDefenses(engine, items, defenses, { seed: p.seed ?? 0, signal: abort.signal, run: transforms.run }) };
      } catch (err) {
        if (abort.signal.aborted && !(err instanceof ApiError)) throw abort.signal.reason;
        throw err;
      } finally {
        abort.done();
      }
    },
  );
};
