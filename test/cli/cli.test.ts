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

t.test('attack takes the registry options as flags (refused out of range before loading anything) and draws a progress bar', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const input = join(dir, 'in.png');
  const img = tinyImage(40, 30, 9);
  writeFileSync(input, await sharp(Buffer.from(img.rgb), { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer());
  for (const [flags, why] of [
    [['--ti', '4'], /^advserve: --ti must be one of 0, 3, 5, 7/],
    [['--method', 'si-fgsm', '--scales', '0'], /^advserve: --scales must be an integer in \[1, 16\], not "0"/],
    [['--loss', 'hinge'], /^advserve: --loss must be one of ce, logit, margin/],
    [['--mu', 'x'], /^advserve: --mu must be a number in \[0, 10\], not "x"/],
  ] as const) {
    const res = run(['attack', '--target', 'Drawing', ...flags, input, '-o', join(dir, 'bad.png')]);
    t.equal(res.status, 2, `${flags.join(' ')}: exit 2`);
    t.match(res.stderr.split('\n')[0], why, `${flags.join(' ')}: one line saying why`);
  }
  t.notOk(existsSync(join(dir, 'bad.png')), 'no output written');

  const output = join(dir, 'out.png');
  const res = run(['attack', '--target', 'Drawing', '--method', 'vmi-fgsm', '--samples', '2', '--di', '--ti', '3', '--loss', 'margin', '--kappa', '2', '--mu', '0.5', '--eps', '4', '--iterations', '3', '--progress', '--json', input, '-o', output]);
  t.ok(res.status === 0 || res.status === 1, `exit ${res.status}: ${res.stderr.slice(-400)}`);
  t.equal(JSON.parse(res.stdout).method, 'vmi-fgsm');
  t.match(res.stderr, /\r\[#{8}\.{16}\] 1\/3  target Drawing/, 'the bar after the first step');
  t.match(res.stderr, /\r\[#{24}\] 3\/3  target Drawing [\d.]+%  top \w+ [\d.]+%/, 'and at the end');
  const quiet = run(['attack', '--target', 'Drawing', '--eps', '4', '--iterations', '2', input, '-o', output]);
  t.notMatch(quiet.stderr, /\[#/, 'no bar when stderr is not a terminal');
});
