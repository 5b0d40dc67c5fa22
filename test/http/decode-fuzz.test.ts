/**
 * Fuzzes the decode path over real HTTP: a seeded generator mutates small real PNG, JPEG and
 * WebP files (bit flips, truncations, duplicated chunks/segments, header width/height set to
 * zero or huge, wrong CRCs, splices from another file) and POSTs each one to /v1/classify and
 * to /v1/attack/targeted with iterations=1 (fake engine: the decoder is what is under test).
 * Every answer must be 2xx, or 4xx problem+json; never 5xx; the server must stay up.
 */
import t from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { seededRandom } from '../../src/engine/random';
import { setup } from './helpers';
import { crc32 } from '../images/fixtures';

const CASES_PER_SEED = 60;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** A small photo-like pattern (gradients plus a seeded texture), with or without alpha. */
function pattern(width: number, height: number, channels: 3 | 4, seed: number): Buffer {
  const r = seededRandom(seed);
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * channels;
      raw[p] = (x * 9 + int(r, 20)) & 255;
      raw[p + 1] = (y * 11 + int(r, 20)) & 255;
      raw[p + 2] = ((x + y) * 5 + int(r, 40)) & 255;
      if (channels === 4) raw[p + 3] = 128 + ((x * y) & 127);
    }
  }
  return raw;
}

async function seeds(): Promise<{ name: string; bytes: Buffer }[]> {
  const rgb = { raw: { width: 24, height: 16, channels: 3 as const } };
  const rgba = { raw: { width: 20, height: 12, channels: 4 as const } };
  const a = pattern(24, 16, 3, 1);
  const b = pattern(20, 12, 4, 2);
  return [
    { name: 'png', bytes: await sharp(a, rgb).png().toBuffer() },
    { name: 'png-alpha-interlaced', bytes: await sharp(b, rgba).png({ progressive: true }).toBuffer() },
    { name: 'jpeg', bytes: await sharp(a, rgb).jpeg({ quality: 85 }).toBuffer() },
    { name: 'jpeg-progressive', bytes: await sharp(a, rgb).jpeg({ quality: 70, progressive: true }).toBuffer() },
    { name: 'webp-lossy', bytes: await sharp(a, rgb).webp({ quality: 80 }).toBuffer() },
    { name: 'webp-alpha', bytes: await sharp(b, rgba).webp({ quality: 80 }).toBuffer() },
    { name: 'webp-lossless', bytes: await sharp(a, rgb).webp({ lossless: true }).toBuffer() },
  ];
}

const SIZES = [0, 1, 2, 255, 16383, 16384, 65500, 65535, 0x7fffffff, 0xffffffff];

/** Byte ranges [start, end) of a PNG's chunks (length, type, data, CRC). */
function pngChunks(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 8; at + 12 <= buf.length; ) {
    const end = at + 12 + buf.readUInt32BE(at);
    if (end > buf.length) break;
    out.push([at, end]);
    at = end;
  }
  return out;
}

/** Byte ranges of a JPEG's marker segments before the scan data (FFxx + length). */
function jpegSegments(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 2; at + 4 <= buf.length && buf[at] === 0xff; ) {
    const marker = buf[at + 1];
    const end = at + 2 + buf.readUInt16BE(at + 2);
    if (end > buf.length) break;
    out.push([at, end]);
    if (marker === 0xda) break; // start of scan: entropy-coded data follows
    at = end;
  }
  return out;
}

/** Byte ranges of a WebP's RIFF chunks. */
function webpChunks(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 12; at + 8 <= buf.length; ) {
    const size = buf.readUInt32LE(at + 4);
    const end = at + 8 + size + (size & 1);
    if (end > buf.length) break;
    out.push([at, end]);
    at = end;
  }
  return out;
}

const structure = (kind: string, buf: Buffer) => (kind.startsWith('png') ? pngChunks(buf) : kind.startsWith('jpeg') ? jpegSegments(buf) : webpChunks(buf));

/** Sets the declared width/height in the format's header (PNG: with or without a fixed CRC). */
function setHeaderSize(kind: string, buf: Buffer, r: Rand): string {
  const w = SIZES[int(r, SIZES.length)];
  const h = SIZES[int(r, SIZES.length)];
  if (kind.startsWith('png')) {
    buf.writeUInt32BE(w >>> 0, 16);
    buf.writeUInt32BE(h >>> 0, 20);
    const fix = r() < 0.7;
    if (fix) buf.writeUInt32BE(crc32(buf.subarray(12, 29)), 29);
    return `IHDR ${w}x${h}${fix ? '' : ' (stale CRC)'}`;
  }
  if (kind.startsWith('jpeg')) {
    const sof = jpegSegments(buf).find(([at]) => buf[at + 1] >= 0xc0 && buf[at + 1] <= 0xc2);
    if (!sof) return 'no SOF';
    buf.writeUInt16BE(h & 0xffff, sof[0] + 5);
    buf.writeUInt16BE(w & 0xffff, sof[0] + 7);
    return `SOF ${w & 0xffff}x${h & 0xffff}`;
  }
  const fourcc = buf.toString('latin1', 12, 16);
  if (fourcc === 'VP8X') {
    buf.writeUIntLE((w - 1) & 0xffffff, 24, 3);
    buf.writeUIntLE((h - 1) & 0xffffff, 27, 3);
  } else if (fourcc === 'VP8 ') {
    buf.writeUInt16LE(w & 0x3fff, 26);
    buf.writeUInt16LE(h & 0x3fff, 28);
  } else if (fourcc === 'VP8L') {
    buf.writeUInt32LE((((w - 1) & 0x3fff) | (((h - 1) & 0x3fff) << 14) | (buf.readUInt32LE(21) & 0xf0000000)) >>> 0, 21);
  }
  return `${fourcc.trim()} ${w}x${h}`;
}

/** One seeded mutation of `seed` (a copy); `other` is another file to splice from. */
function mutate(kind: string, seed: Buffer, other: Buffer, r: Rand): { bytes: Buffer; how: string } {
  let buf = Buffer.from(seed);
  const op = int(r, 7);
  switch (op) {
    case 0: {
      const n = 1 + int(r, 8);
      for (let i = 0; i < n; i++) buf[int(r, buf.length)] ^= 1 << int(r, 8);
      return { bytes: buf, how: `${n} bit flip(s)` };
    }
    case 1: {
      const at = int(r, buf.length);
      return { bytes: buf.subarray(0, at), how: `truncated at ${at}/${buf.length}` };
    }
    case 2: {
      const parts = structure(kind, buf);
      if (parts.length === 0) return { bytes: buf, how: 'no chunks' };
      const [a, b] = parts[int(r, parts.length)];
      const times = 1 + int(r, 3);
      const copies = Array.from({ length: times }, () => buf.subarray(a, b));
      return { bytes: Buffer.concat([buf.subarray(0, b), ...copies, buf.subarray(b)]), how: `chunk at ${a} duplicated x${times}` };
    }
    case 3:
      return { bytes: buf, how: setHeaderSize(kind, buf, r) };
    case 4: {
      const parts = structure(kind, buf);
      if (kind.startsWith('png') && parts.length) {
        const [, end] = parts[int(r, parts.length)];
        buf.writeUInt32BE((buf.readUInt32BE(end - 4) ^ (1 + int(r, 0xffff))) >>> 0, end - 4);
        return { bytes: buf, how: `wrong CRC before ${end}` };
      }
      // Not PNG: change a chunk's / segment's declared length instead.
      if (parts.length === 0) return { bytes: buf, how: 'no chunks' };
      const [at] = parts[int(r, parts.length)];
      if (kind.startsWith('jpeg')) buf.writeUInt16BE(int(r, 0x10000), at + 2);
      else buf.writeUInt32LE(int(r, 0x100000000) >>> 0, at + 4);
      return { bytes: buf, how: `length of chunk at ${at} changed` };
    }
    case 5: {
      const at = int(r, buf.length);
      const from = int(r, other.length);
      const len = 1 + int(r, Math.min(64, other.length - from));
      buf = Buffer.concat([buf.subarray(0, at), other.subarray(from, from + len), buf.subarray(at + (r() < 0.5 ? len : 0))]);
      return { bytes: buf, how: `splice of ${len} bytes at ${at}` };
    }
    default: {
      // Two mutations at once.
      const first = mutate(kind, seed, other, r);
      const second = mutate(kind, first.bytes, other, r);
      return { bytes: second.bytes, how: `${first.how}; ${second.how}` };
    }
  }
}

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

t.test(`decode fuzz: ${CASES_PER_SEED} mutations of each seed file, to classify and attack: 2xx or 4xx problem+json, never 5xx`, async (t) => {
  // maxPixels small enough that a mutated header is often over it, as in production with big claims.
  const { server } = await setup(t, { config: { maxPixels: 1_000_000 } });
  const all = await seeds();
  const r = seededRandom(20240611);
  const bad: string[] = [];
  const statuses = new Map<number, number>();
  let cases = 0;
  for (const [i, seed] of all.entries()) {
    const kind = seed.name.split('-')[0];
    const other = all[(i + 1 + int(r, all.length - 1)) % all.length].bytes;
    for (let n = 0; n < CASES_PER_SEED; n++) {
      const { bytes, how } = mutate(seed.name, seed.bytes, other, r);
      cases++;
      const contentType = r() < 0.85 ? CONTENT_TYPES[kind] : Object.values(CONTENT_TYPES)[int(r, 3)];
      for (const path of ['/v1/classify', '/v1/attack/targeted?target=1&iterations=1']) {
        const res = await request(server).post(path).set('Content-Type', contentType).send(bytes);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const problemJson = /^application\/problem\+json/.test(res.headers['content-type'] ?? '');
        const ok = (res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500 && problemJson);
        if (!ok) bad.push(`${seed.name} #${n} (${how}) ${path}: ${res.status} ${res.text?.slice(0, 200)}`);
      }
    }
  }
  t.same(bad, [], `every answer 2xx or 4xx problem+json over ${cases} cases (${[...statuses].map(([s, c]) => `${s}: ${c}`).join(', ')})`);
  t.ok(statuses.has(200) && [...statuses.keys()].some((s) => s >= 400), 'both decodable and refused mutations were produced');

  // Still up, and still decoding.
  t.equal((await request(server).get('/healthz')).status, 200);
  const clean = await request(server).post('/v1/classify').set('Content-Type', 'image/png').send(all[0].bytes);
  t.equal(clean.status, 200, 'a clean image still classifies');
});
