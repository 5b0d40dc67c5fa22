/**
 * Reads a POST /v1/jobs body: multipart/form-data with the images in field "images" (repeated)
 * or one zip/tar archive in field "archive", and the settings as text fields. The whole body is
 * read before anything is stored, and every problem is a 4xx: nothing is queued half-way.
 */
import type { FastifyRequest } from 'fastify';
import { ApiError, badParam, payloadTooLarge, unsupportedMedia } from '../../errors';
import { toApiError } from '../../http/problem';
import { ArchiveError, readArchive, type NamedImage } from '../../jobs/archive';

export const JOB_FIELDS = ['methods', 'attack_models', 'defenses', 'mode', 'eps', 'iterations', 'seed', 'labels', 'targets'] as const;
export type JobFields = Partial<Record<(typeof JOB_FIELDS)[number], string>>;

export interface JobUploadLimits {
  maxImages: number;
  maxBytes: number;
}

/** Labels of thousands of images are long. */
const MAX_FIELD_BYTES = 1024 * 1024;

const tooMany = (max: number) => new ApiError(413, 'payload-too-large', 'Payload too large', `At most ${max} images per job (ADVSERVE_JOB_MAX_IMAGES).`, 'images');
const tooBig = (max: number) => payloadTooLarge(`The job's upload is larger than ${max} bytes (ADVSERVE_JOB_MAX_BYTES).`);

export async function readJobUpload(request: FastifyRequest, limits: JobUploadLimits): Promise<{ images: NamedImage[]; fields: JobFields }> {
  if (!request.isMultipart()) throw unsupportedMedia('Send the job as multipart/form-data: images in the field "images" (repeated) or one zip/tar in "archive", settings as form fields.');
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes + MAX_FIELD_BYTES) throw tooBig(limits.maxBytes);

  const files: NamedImage[] = [];
  let archive: Buffer | undefined;
  const fields: Record<string, string> = {};
  let total = 0;
  // The first problem is kept, not thrown, so the loop drains the body; limits stop at once.
  let problem: ApiError | undefined;
  const fail = (e: ApiError) => void (problem ??= e);
  try {
    const parts = request.parts({ limits: { files: limits.maxImages + 1, fileSize: limits.maxBytes, fieldSize: MAX_FIELD_BYTES, fields: JOB_FIELDS.length + 5, parts: limits.maxImages + JOB_FIELDS.length + 6 } });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (part.fieldname !== 'images' && part.fieldname !== 'archive') {
          part.file.resume();
          fail(badParam(part.fieldname, `Unexpected file field "${part.fieldname}"; send images in "images" (repeated) or one zip/tar in "archive".`));
          continue;
        }
        const data = await part.toBuffer();
        total += data.length;
        if (total > limits.maxBytes) throw tooBig(limits.maxBytes);
        if (part.fieldname === 'archive') {
          if (archive) fail(badParam('archive', 'Send one archive per job.'));
          archive = data;
        } else {
          if (files.length >= limits.maxImages) throw tooMany(limits.maxImages);
          files.push({ name: part.filename || `image-${files.length}`, data });
        }
        continue;
      }
      const { fieldname, value, valueTruncated } = part;
      if (!(JOB_FIELDS as readonly string[]).includes(fieldname)) fail(badParam(fieldname, `Unknown field "${fieldname}"; a job takes: images or archive, ${JOB_FIELDS.join(', ')}.`));
      else if (valueTruncated) fail(badParam(fieldname, `Field "${fieldname}" is longer than ${MAX_FIELD_BYTES} bytes.`));
      else if (typeof value !== 'string') fail(badParam(fieldname, `Field "${fieldname}" must be plain text.`));
      else if (Object.hasOwn(fields, fieldname)) fail(badParam(fieldname, `Field "${fieldname}" is given more than once.`));
      else fields[fieldname] = value;
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if ((err as { code?: string })?.code === 'FST_FILES_LIMIT') throw tooMany(limits.maxImages);
    if ((err as { code?: string })?.code === 'FST_REQ_FILE_TOO_LARGE') throw tooBig(limits.maxBytes);
    const mapped = toApiError(err);
    if (mapped) throw mapped;
    throw badParam('body', `Malformed multipart body: ${(err as Error)?.message ?? String(err)}.`);
  }
  if (problem) throw problem;
  if (archive && files.length) throw badParam('archive', 'Send the images either in "images" or in one "archive", not both.');
  let images = files;
  if (archive) {
    try {
      images = await readArchive(archive, limits);
    } catch (err) {
      if (err instanceof ArchiveError) throw err.tooLarge ? new ApiError(413, 'payload-too-large', 'Payload too large', err.message, 'archive') : unsupportedMedia(err.message);
      throw err;
    }
  }
  if (images.length === 0 || images.some((i) => i.data.length === 0)) {
    throw new ApiError(400, 'missing-image', 'Missing image', archive ? 'The archive holds no png, jpg, jpeg or webp file (or an empty one).' : 'Send one or more images in the field "images" (none empty), or one zip/tar in "archive".', archive ? 'archive' : 'images');
  }
  const seen = new Set<string>();
  for (const i of images) {
    if (seen.has(i.name)) throw badParam('images', `Two images are named "${i.name}"; names identify images in the report (and seed their targets), so they must differ.`);
    seen.add(i.name);
  }
  return { images, fields: fields as JobFields };
}
