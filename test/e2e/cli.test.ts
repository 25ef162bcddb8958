import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { getBackboneSpec } from '../../src/backbone/registry.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir, noise, painted } from '../helpers/images.js';
import { tinyBackbone } from '../helpers/onnx-models.js';

let dir: TempDir;
let rowFile: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  dir = await makeTempDir('posterscope-e2e-');
  const base = getBackboneSpec('mobilenetv2');
  const { row } = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 8 } });
  rowFile = await dir.write('tiny.json', JSON.stringify(row));
  env = { POSTERSCOPE_CACHE: dir.file('cache'), POSTERSCOPE_MIRROR: dir.path, POSTERSCOPE_OFFLINE: '1' };
  await mkdir(dir.file('posters'));
  await mkdir(dir.file('bad'));
  for (let i = 0; i < 6; i++) await painted(60, 90, noise(i)).jpeg().toFile(dir.file(`posters/p${i}.jpg`));
});

after(() => dir.remove());

test('no command prints usage and exits 2; --help lists commands and exits 0', async () => {
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(none.stdout, /Usage: posterscope <command>/);
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /embed\s+Embed posters/);
});

test('a mistyped command gets one line with "did you mean" and exit 2', async () => {
  const result = await runCli(['embdd', 'x.jpg']);
  assert.equal(result.code, 2);
  assert.equal(result.stderr.split('\n').length, 2, 'one line');
  assert.match(result.stderr, /^posterscope: unknown command "embdd"\. Did you mean "embed"\? Commands: predict, train, evaluate, serve, embed, backbones\b/);
});

test('an unknown option is one line naming it, exit 2; a mistyped one gets "did you mean"', async () => {
  const result = await runCli(['embed', '--bogus', 'x.jpg']);
  assert.equal(result.code, 2);
  assert.equal(result.stderr, "posterscope: Unknown option '--bogus'. See `posterscope embed --help`\n");
  const typo = await runCli(['embed', '--batchsize', '4', 'x.jpg']);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, "posterscope: Unknown option '--batchsize'. Did you mean \"--batch-size\"? See `posterscope embed --help`\n");
});

test('--version prints package.json\'s version', async () => {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const result = await runCli(['--version']);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `${version}\n`);
});

test('every command that decodes posters has --max-pixels and --max-bytes', async () => {
  for (const command of ['predict', 'embed', 'serve', 'train', 'evaluate', 'clean', 'audit']) {
    const help = await runCli([command, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--max-pixels N +Refuse posters with more pixels than this .*\(default: 50000000\)/, command);
    assert.match(help.stdout, /--max-bytes N +Refuse poster files larger than this many bytes \(default: 52428800\)/, command);
  }
});

test('a value of a poster limit is checked like any other: one line, exit 2', async () => {
  const result = await runCli(['embed', dir.file('posters'), '--backbone', rowFile, '--max-pixels', '0'], { env });
  assert.equal(result.code, 2);
  assert.equal(result.stderr, `posterscope: Expected integer between 1 and ${Number.MAX_SAFE_INTEGER} for --max-pixels but received number 0\n`);
});

test('an error line about a file with a newline in its name stays one line', async () => {
  const result = await runCli(['embed', dir.file('posters'), dir.file('no\nsuch.jpg'), '--backbone', rowFile, '--json', '--quiet'], { env });
  assert.equal(result.code, 1);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^error: .*no\\nsuch\.jpg: /);
});

test('embed --help teaches: usage, views, options with defaults, examples', async () => {
  const result = await runCli(['embed', '--help']);
  assert.equal(result.code, 0);
  for (const text of ['Usage: posterscope embed', 'tiles = tiles-1.5x+tiles-2x+tiles-3x', '--batch-size N', '(default: 8)', 'Examples:']) {
    assert.ok(result.stdout.includes(text), `help mentions ${text}`);
  }
});

test('embed then re-embed: the second run is served from the cache', async () => {
  const first = await runCli(['embed', dir.file('posters'), '--backbone', rowFile, '--views', 'full,tiles-2x', '--json'], { env });
  assert.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  assert.deepEqual([report.posters, report.embedded, report.fromCache, report.failed, report.passes], [6, 6, 0, 0, 6 * 7]);
  assert.deepEqual(report.views, ['full', 'tiles-2x']);
  const second = JSON.parse((await runCli(['embed', dir.file('posters'), '--backbone', rowFile, '--views', 'full,tiles-2x', '--json'], { env })).stdout);
  assert.deepEqual([second.embedded, second.fromCache, second.passes], [0, 6, 0]);
});

test('bad posters each get one error line naming the file; good ones are embedded; exit 1', async () => {
  const text = await dir.write('bad/notes.jpg', 'just some text');
  const empty = await dir.write('bad/empty.png', '');
  const full = await sharp({ create: { width: 50, height: 75, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  const truncated = await dir.write('bad/cut.jpg', full.subarray(0, Math.floor(full.length / 2)));
  const good = await dir.write('bad/good.jpg', full);
  const result = await runCli(['embed', text, empty, truncated, dir.file('bad/missing.jpg'), dir.file('posters'), good, '--backbone', rowFile, '--json'], { env });
  assert.equal(result.code, 1);
  const report = JSON.parse(result.stdout);
  assert.equal(report.failed, 4);
  assert.equal(report.embedded + report.fromCache, 7);
  const lines = result.stderr.trim().split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(lines.length, 4);
  for (const name of ['notes.jpg', 'empty.png', 'cut.jpg', 'missing.jpg']) assert.ok(lines.some((l) => l.includes(name)), name);
});

test('offline with the model nowhere: one line listing every place looked, exit 1', async () => {
  const result = await runCli(['embed', dir.file('posters'), '--backbone', 'mobilenetv2'], {
    env: { POSTERSCOPE_CACHE: dir.file('empty-cache'), POSTERSCOPE_MIRROR: dir.file('no-mirror'), POSTERSCOPE_OFFLINE: '1' },
  });
  assert.equal(result.code, 1);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /mobilenetv2-12-int8\.onnx/);
  assert.ok(lines[0]!.includes(dir.file('empty-cache')) && lines[0]!.includes(dir.file('no-mirror')), lines[0]);
  assert.match(lines[0]!, /offline/);
});

test('POSTERSCOPE_OFFLINE=yes keeps the CLI offline, as it does the library', async () => {
  const result = await runCli(['embed', dir.file('posters'), '--backbone', 'mobilenetv2', '--quiet'], {
    env: { POSTERSCOPE_CACHE: dir.file('empty-cache'), POSTERSCOPE_MIRROR: dir.file('no-mirror'), POSTERSCOPE_OFFLINE: 'yes' },
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /download skipped \(offline\)\n$/);
  assert.doesNotMatch(result.stderr, /https?:/);
});

test('a backbone row file that is not valid is one line, exit 2', async () => {
  const broken = await dir.write('broken.json', JSON.stringify({ id: 'x', file: { fileName: 'x.onnx', urls: [] } }));
  const result = await runCli(['embed', dir.file('posters'), '--backbone', broken], { env });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /broken\.json: backbone row/);
  const unknown = await runCli(['embed', dir.file('posters'), '--backbone', 'mobilenet'], { env });
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.stderr,
    'posterscope: Expected one of mobilenetv2, resnet50, clip-vit-b32 for backbone but received string "mobilenet"; did you mean "mobilenetv2"?\n',
  );
  const bogusView = await runCli(['embed', dir.file('posters'), '--backbone', rowFile, '--views', 'flip'], { env });
  assert.equal(bogusView.code, 2);
  assert.match(bogusView.stderr, /for view but received string "flip"/);
});

test('backbones lists every registry row with where its file is', async () => {
  const result = await runCli(['backbones', '--json'], { env });
  assert.equal(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as Array<{ id: string; dim: number; where: string }>;
  assert.deepEqual(rows.map((r) => [r.id, r.dim]), [['mobilenetv2', 1280], ['resnet50', 2048], ['clip-vit-b32', 512]]);
  assert.ok(rows.every((r) => r.where === 'not available locally'));
});
