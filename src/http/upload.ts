/**
 * Reads the image and any text fields of an upload: either a multipart/form-data body
 * (file in field "image", parameters as further fields) or a raw image/png|jpeg|webp body
 * (parameters in the query string).
 */
import type { FastifyRequest } from 'fastify';
import { ApiError, badParam, missingImage } from '../errors';
import { toApiError } from './problem';

export const IMAGE_CONTENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

export interface Upload {
  image: Buffer;
  /** Multipart text fields by name (empty for a raw body). */
  fields: Record<string, string>;
}

/** Longest accepted multipart text field; parameters are short. */
export const MAX_FIELD_BYTES = 1024;

export async function readUpload(request: FastifyRequest): Promise<Upload> {
  if (!request.isMultipart()) {
    const body = request.body;
    if (Buffer.isBuffer(body) && body.length > 0) return { image: body, fields: {} };
    throw missingImage();
  }

  let image: Buffer | undefined;
  const fields: Record<string, string> = {};
  // The first problem is remembered, not thrown, so that the loop still drains the rest of the
  // body: leaving a file stream unread would stall busboy and with it the connection.
  let problem: ApiError | undefined;
  const fail = (e: ApiError) => {
    problem ??= e;
  };
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'image') {
          part.file.resume();
          fail(badParam(part.fieldname, `Unexpected file field "${part.fieldname}"; send the image in the field "image".`));
          continue;
        }
        image = await part.toBuffer();
        continue;
      }
      const { fieldname, value, valueTruncated } = part;
      if (valueTruncated) fail(badParam(fieldname, `Field "${fieldname}" is longer than ${MAX_FIELD_BYTES} bytes.`));
      else if (typeof value !== 'string') fail(badParam(fieldname, `Field "${fieldname}" must be plain text.`));
      else if (Object.hasOwn(fields, fieldname)) fail(badParam(fieldname, `Field "${fieldname}" is given more than once.`));
      else fields[fieldname] = value;
    }
  } catch (err) {
    // Limit errors carry their own mapping; anything else from busboy is a malformed body.
    const mapped = toApiError(err);
    if (mapped) throw mapped;
    throw badParam('body', `Malformed multipart body: ${(err as Error)?.message ?? String(err)}.`);
  }
  if (problem) throw problem;
  if (!image || image.length === 0) throw missingImage();
  return { image, fields };
}
