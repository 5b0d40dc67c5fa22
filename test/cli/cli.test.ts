/** The CLI as a user runs it: bin/advserve.js, real files, exit codes. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { tinyImage } from '../support/tiny';

const BIN = join(__dirname, '..', '..', 'bin', 'advserve.js');
const env = { ...process.env, ADVSERVE_BACKEND: 'wasm', ADVSERVE_MODELS: 'mobilenet_v2', ADVSERVE_WORKERS: '0' };
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 120_000 });

t.test('attack writes a PNG of the same size within eps, and classify reads it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const img = tinyImage(80, 60, 5);
  const input = join(dir, 'in.png');
  writeFileSync(input, await sharp(Buffer.from(img.rgb), { raw: { width: 80, height: 60, channels: 3 } }).png().toBuffer());
  const output = join(dir, 'out.png');
  const res = run(['attack', '--target', 'Drawing', '--eps', '8', '--iterations', '3', '--json', input, '-o', output]);
  t.ok(res.status === 0 || res.status === 1, `exit ${res.status} (0 success, 1 missed): ${res.stderr.slice(-400)}`);
  const report = JSON.parse(res.stdout);
  t.equal(report.target.label, 'Drawing');
  t.equal(res.status, report.success ? 0 : 1, 'exit code follows success');
  const { data, info } = await sharp(readFileSync(output)).raw().toBuffer({ resolveWithObject: true });
  t.same([info.width, info.height], [80, 60]);
  let linf = 0;
  for (let i = 0; i < data.length; i++) linf = Math.max(linf, Math.abs(data[i] - img.rgb[i]));
  t.ok(linf <= 8 && linf === report.linf, `linf ${linf}`);

  const cls = run(['classify', '--json', output]);
  t.equal(cls.status, 0, cls.stderr.slice(-300));
  t.equal(JSON.parse(cls.stdout).models[0].id, 'mobilenet_v2');
});

t.test('usage and input errors exit 2 with a message', async (t) => {
  const noTarget = run(['attack', 'x.png', '-o', 'y.png']);
  t.equal(noTarget.status, 2);
  t.match(noTarget.stderr, /--target/);
  const missing = run(['classify', '/nonexistent/image.png']);
  t.equal(missing.status, 2);
  t.match(missing.stderr, /ENOENT|no such file/);
  const bad = run(['frobnicate']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown command/);
});

t.test('attack refuses eps below 1 (and above 64) as the HTTP API does, before loading anything', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const input = join(dir, 'in.png');
  writeFileSync(input, await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  for (const eps of ['0.5', '0', '65', 'lots']) {
    const res = run(['attack', '--target', 'Drawing', '--eps', eps, input, '-o', join(dir, 'out.png')]);
    t.equal(res.status, 2, `--eps ${eps}: exit 2`);
    t.match(res.stderr.split('\n')[0], `advserve: --eps must be from 1 to 64 on the 0..255 scale, not "${eps}"`, `--eps ${eps}: one line saying why`);
    t.notOk(existsSync(join(dir, 'out.png')), 'no output written');
  }
});
