/**
 * Reads a model upload (multipart/form-data) into a temporary folder of the store: the field
 * `spec` (advserve.json, as a text field or a file part) and one `files` part per file of the
 * model folder, each written under its own file name. Names are plain base names only, so that
 * nothing can be written outside the folder. Limits: the files' bytes together and their number
 * (413 beyond), checked while streaming, so an oversized upload is cut off, not buffered.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { ApiError, badParam, payloadTooLarge } from '../../errors';
import { toApiError } from '../../http/problem';

export interface ModelUploadLimits {
  /** Most bytes of all files (and the spec) together. */
  maxBytes: number;
  /** Most files. */
  maxFiles: number;
}

/** Longest spec accepted (inline labels of 1000 classes are ~30 KB). */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** Multipart overhead allowed beyond maxBytes in a declared Content-Length (boundaries, part headers). */
const ENVELOPE_BYTES = 64 * 1024 + MAX_SPEC_BYTES;

const tooLarge = (limits: ModelUploadLimits) =>
  payloadTooLarge(`The model upload is larger than ${limits.maxBytes} bytes (ADVSERVE_MODEL_UPLOAD_MAX_BYTES).`);
const tooManyFiles = (limits: ModelUploadLimits) =>
  new ApiError(413, 'payload-too-large', 'Payload too large', `At most ${limits.maxFiles} files per model upload (ADVSERVE_MODEL_UPLOAD_MAX_FILES).`, 'files');

/** Why `name` cannot be a file of the upload, or undefined when it can. */
export function badFileName(name: string | undefined): string | undefined {
  if (!name) return 'every file part needs a file name';
  if (name.length > 255) return `the file name "${name.slice(0, 40)}..." is longer than 255 characters`;
  // eslint-disable-next-line no-control-regex
  if (/[/\\\x00-\x1f\x7f]/.test(name)) return `the file name "${name}" must be a plain name, without "/", "\\" or control characters`;
  if (name.startsWith('.')) return `the file name "${name}" must not start with "."`;
  if (/^[A-Za-z]:/.test(name)) return `the file name "${name}" must not be a drive path`;
  if (name === 'advserve.json') return 'advserve.json goes in the field "spec", not among the files';
  return undefined;
}

export interface ReceivedUpload {
  files: string[];
  /** Whether a spec arrived (written to advserve.json). */
  spec: boolean;
}

export async function receiveModelUpload(request: FastifyRequest, folder: string, limits: ModelUploadLimits): Promise<ReceivedUpload> {
  if (!request.isMultipart()) {
    throw new ApiError(415, 'unsupported-media-type', 'Unsupported media type', 'Send the model as multipart/form-data: field "spec" (advserve.json) and one "files" part per file.', 'body');
  }
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes + ENVELOPE_BYTES) throw tooLarge(limits);

  const files: string[] = [];
  let spec: Buffer | undefined;
  let total = 0;
  // The first problem is remembered and the rest of the body drained (an unread part stalls the
  // parser and the connection); limits stop at once.
  let problem: ApiError | undefined;
  const fail = (e: ApiError) => {
    problem ??= e;
  };
  const count = (n: number) => {
    total += n;
    if (total > limits.maxBytes) throw tooLarge(limits);
  };
  try {
    const parts = request.parts({
      // preservePath: busboy would cut "../x" down to "x"; the name is checked (and refused) as sent.
      preservePath: true,
      limits: { files: limits.maxFiles + 1, fileSize: limits.maxBytes, fieldSize: MAX_SPEC_BYTES, fields: 10, parts: limits.maxFiles + 11 },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        if (part.fieldname !== 'spec') fail(badParam(part.fieldname, `Unexpected field "${part.fieldname}"; send "spec" and "files" (replace goes in the query string).`));
        else if (part.valueTruncated) fail(badParam('spec', `The spec is longer than ${MAX_SPEC_BYTES} bytes.`));
        else if (spec) fail(badParam('spec', 'The field "spec" is given more than once.'));
        else {
          spec = Buffer.from(String(part.value));
          count(spec.length);
        }
        continue;
      }
      if (part.fieldname === 'spec') {
        const data = await part.toBuffer();
        if (spec) fail(badParam('spec', 'The field "spec" is given more than once.'));
        else if (data.length > MAX_SPEC_BYTES) fail(badParam('spec', `The spec is longer than ${MAX_SPEC_BYTES} bytes.`));
        else spec = data;
        count(data.length);
        continue;
      }
      const why = part.fieldname !== 'files' ? `Unexpected file field "${part.fieldname}"; send the model's files in the field "files".` : badFileName(part.filename);
      const duplicate = why === undefined && files.includes(part.filename);
      if (why !== undefined || duplicate || problem) {
        part.file.resume();
        if (why !== undefined) fail(badParam('files', why.charAt(0).toUpperCase() + why.slice(1) + (why.endsWith('.') ? '' : '.')));
        else if (duplicate) fail(badParam('files', `The file "${part.filename}" is sent twice.`));
        continue;
      }
      if (files.length >= limits.maxFiles) throw tooManyFiles(limits);
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          try {
            count(chunk.length);
            done(null, chunk);
          } catch (err) {
            done(err as Error);
          }
        },
      });
      files.push(part.filename);
      // 'wx': never through an existing name (the folder is new; names are checked above).
      await pipeline(part.file, counter, createWriteStream(join(folder, part.filename), { flags: 'wx' }));
      if (part.file.truncated) throw tooLarge(limits);
    }
  } catch (err) {
    if ((err as { code?: string })?.code === 'FST_FILES_LIMIT') throw tooManyFiles(limits);
    if ((err as { code?: string })?.code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(limits);
    const mapped = toApiError(err);
    if (mapped) throw mapped;
    throw badParam('body', `Malformed multipart body: ${(err as Error)?.message ?? String(err)}.`);
  }
  if (problem) throw problem;
  if (!spec || spec.length === 0) throw badParam('spec', 'The model\'s description (advserve.json) is missing: send it in the field "spec", as text or as a file.');
  if (files.length === 0) throw badParam('files', 'No model files: send each file of the model folder (model.onnx, or model.json and its weight files; labels files) as a "files" part.');
  await writeFile(join(folder, 'advserve.json'), spec);
  return { files, spec: true };
}
