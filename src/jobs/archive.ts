/**
 * The images of an uploaded archive: a zip, a tar, or a gzipped tar. Only image files count
 * (png, jpg, jpeg, webp; hidden files and macOS "__MACOSX" folders are skipped), named by their
 * path in the archive and taken in name order (as `advserve eval` takes a folder's files). The
 * number of images and their unpacked bytes are bounded while unpacking, so an archive bomb
 * stops at the limit.
 */
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';

export const IMAGE_NAME = /\.(png|jpe?g|webp)$/i;

export class ArchiveError extends Error {
  constructor(message: string, readonly tooLarge = false) {
    super(message);
    this.name = 'ArchiveError';
  }
}

export interface ArchiveLimits {
  maxImages: number;
  maxBytes: number;
}

export interface NamedImage {
  name: string;
  data: Buffer;
}

const wanted = (name: string) => IMAGE_NAME.test(name) && !name.split('/').some((part) => part.startsWith('.') || part === '__MACOSX');

class Budget {
  private bytes = 0;
  count = 0;
  constructor(private readonly limits: ArchiveLimits) {}
  file(): void {
    if (++this.count > this.limits.maxImages) throw new ArchiveError(`The archive holds more than ${this.limits.maxImages} images (ADVSERVE_JOB_MAX_IMAGES).`, true);
  }
  add(n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxBytes) throw new ArchiveError(`The archive's images unpack to more than ${this.limits.maxBytes} bytes (ADVSERVE_JOB_MAX_BYTES).`, true);
  }
}

async function readCapped(stream: AsyncIterable<Buffer>, budget: Budget): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    budget.add(chunk.length);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function unzip(data: Buffer, budget: Budget): Promise<NamedImage[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  const out: NamedImage[] = [];
  try {
    for (;;) {
      const entry = await new Promise<yauzl.Entry | undefined>((resolve, reject) => {
        zip.once('entry', resolve);
        zip.once('end', () => resolve(undefined));
        zip.once('error', reject);
        zip.readEntry();
      });
      zip.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
      if (!entry) break;
      if (entry.fileName.endsWith('/') || !wanted(entry.fileName)) continue;
      budget.file();
      const stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
      out.push({ name: entry.fileName, data: await readCapped(stream, budget) });
    }
  } finally {
    zip.close();
  }
  return out;
}

async function untar(data: Buffer, budget: Budget): Promise<NamedImage[]> {
  const extract = tar.extract();
  const out: NamedImage[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      if (header.type !== 'file' || !wanted(name)) {
        stream.on('end', next).resume();
        return;
      }
      Promise.resolve()
        .then(() => budget.file())
        .then(() => readCapped(stream as unknown as AsyncIterable<Buffer>, budget))
        .then((bytes) => {
          out.push({ name, data: bytes });
          next();
        })
        .catch((err) => {
          extract.destroy(err);
          reject(err);
        });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([data]).pipe(extract);
  await done;
  return out;
}

const isZip = (d: Buffer) => d.length >= 4 && d.readUInt32LE(0) === 0x04034b50;
const isGzip = (d: Buffer) => d.length >= 2 && d[0] === 0x1f && d[1] === 0x8b;
const isTar = (d: Buffer) => d.length >= 262 && d.subarray(257, 262).toString('latin1') === 'ustar';

/** The archive's images in name order; ArchiveError for what is not a readable zip or tar, or is over the limits. */
export async function readArchive(data: Buffer, limits: ArchiveLimits): Promise<NamedImage[]> {
  const budget = new Budget(limits);
  let images: NamedImage[];
  try {
    if (isZip(data)) images = await unzip(data, budget);
    else {
      const plain = isGzip(data) ? gunzipSync(data, { maxOutputLength: limits.maxBytes + 64 * 1024 * 1024 }) : data;
      if (!isTar(plain)) throw new ArchiveError('The archive is neither a zip nor a tar (or .tar.gz) file.');
      images = await untar(plain, budget);
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ArchiveError(`The archive unpacks to more than ${limits.maxBytes} bytes (ADVSERVE_JOB_MAX_BYTES).`, true);
    throw new ArchiveError(`The archive could not be read: ${(err as Error).message}.`);
  }
  return images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
