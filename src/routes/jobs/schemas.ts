/** TypeBox schemas of the dataset job routes (OpenAPI is generated from them). */
import { Type, type Static } from '@sinclair/typebox';
import { JOB_STATUSES } from '../../jobs/types';
import { StringEnum } from '../schemas';

export const JobIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'The job id (from POST /v1/jobs).' }) });
export type JobIdParams = Static<typeof JobIdParams>;

export const JobImageParams = Type.Object({
  id: JobIdParams.properties.id,
  n: Type.Integer({ minimum: 0, description: 'The image number: its position in the upload (0 = first "images" part), or in name order within an archive, as in the job status.' }),
});
export type JobImageParams = Static<typeof JobImageParams>;

export const JobImageQuery = Type.Object(
  { method: Type.Optional(Type.String({ minLength: 1, description: 'The method, as written in the job\'s `methods` (e.g. `mi-fgsm+di+ti`); may be left out when the job has one method.' })) },
  { additionalProperties: false },
);
export type JobImageQuery = Static<typeof JobImageQuery>;

export const REPORT_QUERY_FORMATS = ['md', 'csv', 'json'] as const;
export const JobReportQuery = Type.Object(
  { format: StringEnum([...REPORT_QUERY_FORMATS], { default: 'json', description: 'md: the markdown table of `advserve eval`; csv: one row per (method, defense); json: rows, byTarget, predictions, secondsPerImage, meta (and errors, when items failed).' }) },
  { additionalProperties: false },
);
export type JobReportQuery = Static<typeof JobReportQuery>;

export const JobLinks = Type.Object({
  self: Type.String(),
  events: Type.String(),
  report: Type.String(),
  images: Type.String({ description: 'The zip of every adversarial image; one image: /v1/jobs/{id}/images/{n}?method=...' }),
});

const Count = Type.Integer({ minimum: 0 });

export const JobStatusJson = Type.Object(
  {
    id: Type.String(),
    status: StringEnum([...JOB_STATUSES], { description: 'queued, running, done (every item finished; some may have failed), failed (every item failed), cancelled (DELETE; results deleted).' }),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Optional(Type.String({ format: 'date-time' })),
    finishedAt: Type.Optional(Type.String({ format: 'date-time' })),
    cancelledAt: Type.Optional(Type.String({ format: 'date-time' })),
    elapsedSeconds: Type.Number({ description: 'From submission to now, or to the end.' }),
    progress: Type.Object({
      images: Count,
      total: Type.Integer({ minimum: 0, description: 'Items: images x methods.' }),
      done: Type.Integer({ minimum: 0, description: 'Items finished, failed ones included.' }),
      failed: Count,
      methods: Type.Array(Type.Object({ method: Type.String(), total: Count, done: Count, failed: Count })),
    }),
    errors: Type.Array(Type.Object({ image: Count, name: Type.String(), method: Type.String(), reason: Type.String() }), { description: 'Items that failed, with the reason (e.g. an image that does not decode).' }),
    links: JobLinks,
  },
);

export const JobCreatedJson = Type.Object({ id: Type.String(), status: Type.Literal('queued'), links: JobLinks });

export const jobLinks = (id: string) => ({
  self: `/v1/jobs/${id}`,
  events: `/v1/jobs/${id}/events`,
  report: `/v1/jobs/${id}/report`,
  images: `/v1/jobs/${id}/images.zip`,
});

/** The multipart form of POST /v1/jobs, for the OpenAPI document (the route reads multipart itself). */
export const jobForm = {
  type: 'object',
  properties: {
    images: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'PNG, JPEG or WebP files (repeat the field), named by their file names; or use archive.' },
    archive: { type: 'string', format: 'binary', description: 'One zip, tar or tar.gz of images (png, jpg, jpeg, webp; taken in name order, named by their paths).' },
    methods: { type: 'string', description: `Comma-separated methods with modifiers, as advserve eval --methods (default fgsm,ifgsm,mi-fgsm,mi-fgsm+di+ti,mng-l1; none = the clean images).` },
    attack_models: { type: 'string', description: 'Comma-separated model ids the attacks use (default: all loaded).' },
    defenses: { type: 'string', description: 'Comma-separated defenses [transform[param]+]...model (default as advserve eval: every loaded model, then jpeg75, bits3, median3, resize-pad in front of mobilenet_v2_mid).' },
    mode: { type: 'string', enum: ['targeted', 'untargeted'], default: 'targeted' },
    eps: { type: 'number', exclusiveMinimum: 0, maximum: 64, default: 16 },
    iterations: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0 },
    labels: { type: 'string', description: 'Optional clean labels, comma-separated in image order (default: the prediction of all loaded models).' },
    targets: { type: 'string', description: 'Optional targets, comma-separated in image order (targeted; default: drawn from the seed and the image name).' },
  },
};
