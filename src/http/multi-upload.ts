/**
 * Reads an upload of several images: a multipart/form-data body with the files in field
 * "images" (or a repeated "image") and parameters as further text fields, or a raw
 * image/png|jpeg|webp body holding a single image (parameters in the query string).
 * The single-image routes keep using ./upload.ts.
 */
import type { FastifyRequest } from 'fastify';
import { ApiError, badParam, missingImage, payloadTooLarge } from '../errors';
import { toApiError } from './problem';

export interface UploadedFile {
  data: Buffer;
  /** The part's file name, when the client sent one. */
  filename?: string;
}

export interface MultiUpload {
  images: UploadedFile[];
  fields: Record<string, string>;
}

export interface MultiUploadLimits {
  /** Most files accepted (413 beyond). */
  maxFiles: number;
  /** Most bytes of all files together (413 beyond). */
  maxBytes: number;
  /** Longest text field (lists of labels can be long). */
  maxFieldBytes: number;
}

export const FILE_FIELDS = ['images', 'image'];

const tooManyFiles = (max: number) =>
  new ApiError(413, 'payload-too-large', 'Payload too large', `At most ${max} images per request.`, 'images');

export async function readUploads(request: FastifyRequest, limits: MultiUploadLimits): Promise<MultiUpload> {
  if (!request.isMultipart()) {
    const body = request.body;
    if (Buffer.isBuffer(body) && body.length > 0) return { images: [{ data: body }], fields: {} };
    throw missingImage();
  }
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw payloadTooLarge('The request body is larger than the configured limit.');

  const images: UploadedFile[] = [];
  const fields: Record<string, string> = {};
  let total = 0;
  // The first problem is remembered, not thrown, so that the loop drains the rest of the body
  // (an unread file stream would stall busboy and the connection); limit errors stop at once.
  let problem: ApiError | undefined;
  const fail = (e: ApiError) => {
    problem ??= e;
  };
  try {
    const parts = request.parts({
      limits: { files: limits.maxFiles, fileSize: limits.maxBytes, fieldSize: limits.maxFieldBytes, fields: 20, parts: limits.maxFiles + 20 },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (!FILE_FIELDS.includes(part.fieldname)) {
          part.file.resume();
          fail(badParam(part.fieldname, `Unexpected file field "${part.fieldname}"; send the images in the field "images" (or a repeated "image").`));
          continue;
        }
        const data = await part.toBuffer();
        total += data.length;
        if (total > limits.maxBytes) throw payloadTooLarge('The images together are larger than the configured request limit.');
        images.push({ data, ...(part.filename ? { filename: part.filename } : {}) });
        continue;
      }
      const { fieldname, value, valueTruncated } = part;
      if (valueTruncated) fail(badParam(fieldname, `Field "${fieldname}" is longer than ${limits.maxFieldBytes} bytes.`));
      else if (typeof value !== 'string') fail(badParam(fieldname, `Field "${fieldname}" must be plain text.`));
      else if (Object.hasOwn(fields, fieldname)) fail(badParam(fieldname, `Field "${fieldname}" is given more than once.`));
      else fields[fieldname] = value;
    }
  } catch (err) {
    if ((err as { code?: string })?.code === 'FST_FILES_LIMIT') throw tooManyFiles(limits.maxFiles);
    const mapped = toApiError(err);
    if (mapped) throw mapped;
    throw badParam('body', `Malformed multipart body: ${(err as Error)?.message ?? String(err)}.`);
  }
  if (problem) throw problem;
  if (images.length === 0 || images.some((f) => f.data.length === 0)) {
    throw new ApiError(400, 'missing-image', 'Missing image', 'Send one or more images as multipart field "images" (or a repeated "image"), none of them empty.', 'images');
  }
  return { images, fields };
}
