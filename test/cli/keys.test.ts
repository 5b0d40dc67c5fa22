/** `advserve keys add|list|remove` as a user runs them, and the key file they write as the service reads it. */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { matchKey, readKeyFileSync } from '../../src/keys/file';
import { BIN, serveUntilExit } from '../support/serve';


const baseEnv = () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.ADVSERVE_API_KEYS_FILE;
  return env;
};
const run = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, 'keys', ...args], { env: { ...baseEnv(), ...extra }, encoding: 'utf8', timeout: 60_000 });

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-keys-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('keys add prints the key once, alone on the last line; the file holds only its hash', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'keys');
  const res = run(['add', 'alice', '--scopes', 'attack', '--file', file]);
  t.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  const key = lines[lines.length - 1];
  t.match(key, /^adv_[A-Za-z0-9_-]{43}$/, 'the key alone on the last line');
  t.equal(res.stdout.split(key).length, 2, 'printed once');
  const text = readFileSync(file, 'utf8');
  t.notOk(text.includes(key), 'the key is not in the file');
  t.notOk(text.includes(key.slice(4)), 'nor its random part');
  t.match(text, /^alice attack sha256:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{43}$/m);
  t.equal(statSync(file).mode & 0o777, 0o600, 'created readable by the owner only');

  // A second key through ADVSERVE_API_KEYS_FILE; both match what the service reads.
  const res2 = run(['add', 'ops', '--scopes', 'admin,attack'], { ADVSERVE_API_KEYS_FILE: file });
  t.equal(res2.status, 0, res2.stderr);
  const key2 = res2.stdout.trimEnd().split('\n').pop()!;
  const config = loadConfig({ ADVSERVE_API_KEYS_FILE: file });
  t.equal(config.apiKeys?.length, 2);
  t.same(matchKey(config.apiKeys!, key)?.name, 'alice');
  t.same(matchKey(config.apiKeys!, key2)?.scopes, ['admin', 'attack']);
  t.equal(matchKey(config.apiKeys!, key + 'x'), undefined);
  t.equal(matchKey(config.apiKeys!, key2.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))), undefined);

  const list = run(['list', '--file', file]);
  t.equal(list.status, 0, list.stderr);
  t.equal(list.stdout, 'alice\tattack\nops\tadmin,attack\n', 'names and scopes only');

  t.equal(run(['add', 'alice', '--scopes', 'attack', '--file', file]).status, 2, 'a name is used once');
  const removed = run(['remove', 'alice', '--file', file]);
  t.equal(removed.status, 0, removed.stderr);
  t.same(readKeyFileSync(file).map((k) => k.name), ['ops']);
  t.match(readFileSync(file, 'utf8'), /^# advserve API keys/, 'comments kept');
  const again = run(['remove', 'alice', '--file', file]);
  t.equal(again.status, 2);
  t.match(again.stderr, /no key named "alice"/);
});

t.test('keys usage errors exit 2 with a message', async (t) => {
  const dir = tmp(t);
  const noFile = run(['add', 'bob', '--scopes', 'attack']);
  t.equal(noFile.status, 2);
  t.match(noFile.stderr, /--file F or set ADVSERVE_API_KEYS_FILE/);
  const badScope = run(['add', 'bob', '--scopes', 'attack,root', '--file', join(dir, 'k')]);
  t.equal(badScope.status, 2);
  t.match(badScope.stderr, /not "root"/);
  const noScope = run(['add', 'bob', '--file', join(dir, 'k')]);
  t.equal(noScope.status, 2);
  t.match(noScope.stderr, /--scopes/);
  const badName = run(['add', 'bob smith', '--scopes', 'attack', '--file', join(dir, 'k')]);
  t.equal(badName.status, 2);
  const missing = run(['list', '--file', join(dir, 'none')]);
  t.equal(missing.status, 2);
  t.match(missing.stderr, /no such file/);
  t.equal(run(['frob']).status, 2);
  const help = run(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /keys add <name> --scopes/);
});

t.test('a malformed key file stops the configuration, naming the line', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'keys');
  writeFileSync(file, '# keys\n\nalice attack\n');
  t.throws(() => loadConfig({ ADVSERVE_API_KEYS_FILE: file }), new ConfigError(`ADVSERVE_API_KEYS_FILE: ${file}: line 3: expected 3 fields (<name> <scope>[,<scope>] sha256:<salt>:<hash>), found 2`));
  t.throws(() => loadConfig({ ADVSERVE_API_KEYS_FILE: join(dir, 'none') }), /ADVSERVE_API_KEYS_FILE: .*none: cannot read it \(ENOENT\)/);
  t.equal(loadConfig({}).apiKeys, undefined, 'no file: open');

  // The service itself: one line on stderr, exit 2, before listening.
  const env: NodeJS.ProcessEnv = { ...baseEnv(), ADVSERVE_API_KEYS_FILE: file, ADVSERVE_BACKEND: 'wasm', ADVSERVE_WORKERS: '0', HOST: '127.0.0.1', PORT: '0' };
  const result = await serveUntilExit(env);
  t.equal(result.code, 2);
  t.match(result.stderr.trim(), /^advserve: configuration error: ADVSERVE_API_KEYS_FILE: .*keys: line 3: expected 3 fields/);
});
