/**
 * API keys: the key file (ADVSERVE_API_KEYS_FILE), new keys, and matching a presented key.
 *
 * The file has one key a line, `<name> <scopes> sha256:<salt>:<hash>`, e.g.
 *
 *   # advserve API keys (advserve keys add|list|remove)
 *   ci-bot attack sha256:2mC3o1Q0b0pX6cU8Vh2B2w:qk2...
 *
 * Blank lines and lines starting with `#` are ignored. The key itself is never stored: only
 * SHA-256(salt || key) with a random 16-byte salt per line, both base64url.
 *
 * Why salted SHA-256 and not scrypt: the keys are 32 random bytes (256 bits), not passwords, so
 * a leaked file cannot be brute-forced whatever the hash; a slow KDF only protects low-entropy
 * secrets. scrypt would instead cost every request (and every request with a wrong key, which an
 * attacker can send at will) tens of milliseconds of CPU and megabytes of memory per key line.
 * The salt keeps two lines for the same key different and rules out precomputed tables.
 * A presented key is hashed with every line's salt and compared with crypto.timingSafeEqual,
 * all lines always, so the time taken says nothing about which line (if any) matched.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, open, readFile, rename, writeFile } from 'node:fs/promises';

export const SCOPES = ['attack', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Every key starts with this, so a leaked one is easy to recognise (and to grep for). */
export const KEY_PREFIX = 'adv_';
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

export interface ApiKey {
  name: string;
  scopes: Scope[];
  salt: Buffer;
  hash: Buffer;
}

/** A problem in the key file or in a `keys` command's input; the message names the line. */
export class KeyFileError extends Error {}

const FORMAT = '<name> <scope>[,<scope>] sha256:<salt>:<hash>';

export function validName(name: string): boolean {
  return NAME.test(name);
}

export function parseScopes(raw: string): Scope[] {
  const scopes = raw.split(',').map((s) => s.trim());
  const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || bad.length > 0 || raw.trim() === '') {
    throw new KeyFileError(`scopes must be a comma-separated list of ${SCOPES.join(', ')}${bad.length ? `; not ${bad.map((s) => `"${s}"`).join(', ')}` : ''}`);
  }
  return [...new Set(scopes)] as Scope[];
}

function digest(salt: Buffer, key: string): Buffer {
  return createHash('sha256').update(salt).update(key, 'utf8').digest();
}

/**
 * Parses the file's text. Messages name the file and line but never repeat the line, which
 * might hold a key pasted there by mistake.
 */
export function parseKeyFile(text: string, file: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}: line ${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 3) throw new KeyFileError(`${where}: expected 3 fields (${FORMAT}), found ${fields.length}`);
    const [name, scopes, hashField] = fields;
    if (!validName(name)) throw new KeyFileError(`${where}: the name must be 1-64 letters, digits, ".", "_" or "-"`);
    if (keys.some((k) => k.name === name)) throw new KeyFileError(`${where}: the name "${name}" is used twice`);
    let parsedScopes: Scope[];
    try {
      parsedScopes = parseScopes(scopes);
    } catch (err) {
      throw new KeyFileError(`${where}: ${(err as Error).message}`);
    }
    const parts = hashField.split(':');
    if (parts.length !== 3 || parts[0] !== 'sha256' || !B64URL.test(parts[1]) || !B64URL.test(parts[2])) {
      throw new KeyFileError(`${where}: the third field must be sha256:<salt>:<hash> (base64url), as \`advserve keys add\` writes it`);
    }
    const salt = Buffer.from(parts[1], 'base64url');
    const hash = Buffer.from(parts[2], 'base64url');
    if (salt.length < 8 || hash.length !== 32) throw new KeyFileError(`${where}: the salt must be at least 8 bytes and the hash 32 bytes`);
    keys.push({ name, scopes: parsedScopes, salt, hash });
  });
  return keys;
}

export function readKeyFileSync(file: string): ApiKey[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseKeyFile(text, file);
}

/** The entry the key belongs to, or undefined. Hashes with every line's salt, whatever matches. */
export function matchKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  let found: ApiKey | undefined;
  for (const k of keys) {
    if (timingSafeEqual(digest(k.salt, presented), k.hash) && !found) found = k;
  }
  return found;
}

/** A new random key and its file line. */
export function newKey(name: string, scopes: Scope[]): { key: string; line: string } {
  const key = KEY_PREFIX + randomBytes(KEY_BYTES).toString('base64url');
  const salt = randomBytes(SALT_BYTES);
  const line = `${name} ${scopes.join(',')} sha256:${salt.toString('base64url')}:${digest(salt, key).toString('base64url')}`;
  return { key, line };
}

const HEADER = '# advserve API keys: <name> <scopes> sha256:<salt>:<hash> (see `advserve keys`); the keys themselves are not stored\n';

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyFileError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Adds a key to the file (created, mode 0600, when missing); returns the key to show once. */
export async function addKey(file: string, name: string, scopes: Scope[]): Promise<string> {
  if (!validName(name)) throw new KeyFileError(`the name must be 1-64 letters, digits, ".", "_" or "-"; got "${name}"`);
  const text = await readText(file);
  const existing = text === undefined ? [] : parseKeyFile(text, file);
  if (existing.some((k) => k.name === name)) throw new KeyFileError(`${file}: a key named "${name}" exists already (remove it first)`);
  const { key, line } = newKey(name, scopes);
  const prefix = text === undefined ? HEADER : text.length > 0 && !text.endsWith('\n') ? '\n' : '';
  const handle = await open(file, 'a', 0o600);
  try {
    await handle.appendFile(prefix + line + '\n');
  } finally {
    await handle.close();
  }
  return key;
}

export async function listKeys(file: string): Promise<{ name: string; scopes: Scope[] }[]> {
  const text = await readText(file);
  if (text === undefined) throw new KeyFileError(`${file}: no such file`);
  return parseKeyFile(text, file).map(({ name, scopes }) => ({ name, scopes }));
}

/** Removes the named key's line (comments and other lines kept); written to a temp file and renamed. */
export async function removeKey(file: string, name: string): Promise<void> {
  const text = await readText(file);
  if (text === undefined) throw new KeyFileError(`${file}: no such file`);
  parseKeyFile(text, file); // refuse to rewrite a malformed file
  const lines = text.split(/(?<=\n)/);
  const kept = lines.filter((l) => l.trim().split(/\s+/)[0] !== name || l.trim().startsWith('#'));
  if (kept.length === lines.length) throw new KeyFileError(`${file}: no key named "${name}"`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, kept.join(''), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
